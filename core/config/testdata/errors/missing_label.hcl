runtime {
  pool_size = 2
}
