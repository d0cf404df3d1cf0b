package containerd

// DaemonSocket is the private test daemon's socket ("" when the daemon
// tests skip), for the external tests in this directory.
func DaemonSocket() (socket, skip string) { return testCfg.Socket, skipReason }
