sandbox {
  read_only_paths = ["/opt/julia", "opt/python"]
}

runtime "Python 3" {
}
