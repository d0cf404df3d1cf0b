runtime "python" {
  pool_size = 
}
