runtime "python" {
  pool_size = -1
  limits {
    wall_time    = "2h"
    cpu_time     = "-1s"
    memory_mb    = -512
    pids         = 0
    output_kb    = 99999999
    file_size_mb = -16
    open_files   = 10000000
  }
}

sandbox {
  work_dir_mb = 0
}
