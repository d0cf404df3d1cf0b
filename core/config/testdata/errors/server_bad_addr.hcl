server {
  addr  = "localhost"
  token = "s3cret"
}
