runtime "python" {
  pool_size = 1
}

runtime "sympy" {
}

runtime "python" {
  pool_size = 3
}
