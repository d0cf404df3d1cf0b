sandbox {
  backend = "containerd"
  containerd {
    socket    = "run/containerd/containerd.sock"
    namespace = "retool/test"
    state_dir = "state"
  }
}
