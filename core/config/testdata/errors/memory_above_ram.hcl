# The test pins the machine's RAM to 8 GiB.
sandbox {
  work_dir_mb = 16384
}

runtime "julia" {
  limits {
    memory_mb = 9000
  }
}
