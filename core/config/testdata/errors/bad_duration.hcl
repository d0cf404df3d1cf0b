runtime "python" {
  limits {
    wall_time = "10"
    cpu_time  = "ten seconds"
  }
}

runtime "sympy" {
  limits {
    wall_time = 10
  }
}
