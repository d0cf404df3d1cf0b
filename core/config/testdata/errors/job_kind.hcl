job "repaly" {
  traces = "t.jsonl"
}
