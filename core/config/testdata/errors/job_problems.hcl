job "repaly" {
  limit       = -3
  concurrency = 0
  language    = "pyton"
}
