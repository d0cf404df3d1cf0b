//go:build !linux

package config

// machineRAM is the total RAM in bytes, 0 if unknown.
func machineRAM() int64 { return 0 }
