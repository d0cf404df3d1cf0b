log_level = 3

sandbox {
  work_dir_mb     = "lots"
  read_only_paths = "/opt/julia"
  allow_network   = "yes"
}

runtime "python" {
  pool_size = 2.5
  settings  = ["interpreter", "/usr/bin/python3"]
  limits {
    pids = true
  }
}

job "replay" {
  traces      = ["a.jsonl"]
  concurrency = "four"
}
