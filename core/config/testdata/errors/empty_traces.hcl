job "replay" {
  traces = ""
}
