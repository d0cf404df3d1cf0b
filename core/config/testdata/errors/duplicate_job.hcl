job "replay" {
  traces = "a.jsonl"
}

job "replay" {
  traces = "b.jsonl"
}
