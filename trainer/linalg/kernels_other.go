//go:build !amd64 || purego

package linalg

// Without the amd64 kernels every call takes the pure-Go path.

func detect() isa { return isaGo }

func kernelsFor(isa) *kernelSet { return nil }
