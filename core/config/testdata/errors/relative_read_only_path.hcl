sandbox {
  read_only_paths = ["/opt/julia", "opt/python", "/tmp/shared"]
}

runtime "Python 3" {
}
