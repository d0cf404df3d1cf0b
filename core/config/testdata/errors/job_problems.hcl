job "replay" {
  limit       = -3
  concurrency = 0
  language    = "pyton"
}
