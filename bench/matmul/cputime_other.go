//go:build !linux

package main

import "time"

// processCPU is only implemented on Linux; elsewhere the CPU-time
// columns are left empty.
func processCPU() (time.Duration, bool) { return 0, false }
