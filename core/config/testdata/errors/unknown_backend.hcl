log_level = "verbose"

sandbox {
  backend = "nativ"
}
