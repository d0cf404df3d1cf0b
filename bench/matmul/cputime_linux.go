package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the CPU time this process has used, all threads
// together. Timing a single-threaded run by it leaves out the time the
// thread waited for a core on a busy machine. (The other threads are idle
// then: the harness lets OpenBLAS's workers go to sleep first. Per-thread
// CPU time would need LockOSThread, and a locked goroutine pays two thread
// wake-ups each time the scheduler preempts it, which on a busy machine
// inflates the wall-clock numbers of the Go code alone.)
func processCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
