# retool.hcl: the default retool configuration.
#
# `retool run retool.hcl` runs the job below. The same text is embedded in
# the retool binary (core/config/default.hcl) as the defaults that every
# other config file overrides. Relative paths are relative to this file.

log_level = "info" # trace | debug | info | warn | error

# plugin_dir defaults to $RETOOL_PLUGIN_DIR or <user config dir>/retool/plugins.

sandbox {
  backend         = "native" # native | none | containerd ("none": no isolation, tests only)
  work_dir_mb     = 64       # tmpfs size of the per-execution work dir
  read_only_paths = []       # extra host paths visible read-only, e.g. "/opt/julia"
  allow_network   = false
}

runtime "python" {
  # Warm workers: executions that sleep, stop or spin until their timeout
  # hold one each, so keep more than a few above the cores.
  pool_size = 8
  settings  = { interpreter = "/usr/bin/python3" }

  limits {
    wall_time    = "10s"
    cpu_time     = "10s"
    memory_mb    = 512
    pids         = 64
    output_kb    = 1024
    file_size_mb = 16
    open_files   = 256
  }
}

runtime "sympy" {
  pool_size = 4
  settings  = { interpreter = "/usr/bin/python3" }

  limits {
    wall_time    = "10s"
    cpu_time     = "10s"
    memory_mb    = 512
    pids         = 64
    output_kb    = 1024
    file_size_mb = 16
    open_files   = 256
  }
}

job "replay" {
  traces      = "data/traces/tora70b_gsm8k_sample.jsonl"
  limit       = 200
  concurrency = 4
  language    = "python"
}
