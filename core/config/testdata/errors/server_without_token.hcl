server {
  addr = "0.0.0.0:8080"
}
