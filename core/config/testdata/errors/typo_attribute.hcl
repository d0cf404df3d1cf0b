# A misspelt attribute inside a runtime block.
log_level = "info"

runtime "python" {
  settings = { interpreter = "/usr/bin/python3" }

  pool_szie = 2
}
