# A misspelt block type at the top level and inside a runtime block.
sandbx {
  backend = "native"
}

runtime "python" {
  limit {
    wall_time = "5s"
  }
}
