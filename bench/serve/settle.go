package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTimes reads the aggregate busy and total jiffies of /proc/stat.
func cpuTimes() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse /proc/stat: %w", err)
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total, nil
}

// settle waits until the machine's CPUs are mostly idle (below
// idleBelow busy over a 200 ms window), for at most limit, so that work a
// server left behind (workers being recycled, sandboxes torn down) does
// not land on the next cell. It returns how long it waited and whether
// the machine got quiet.
func settle(ctx context.Context, idleBelow float64, limit time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		b0, n0, err := cpuTimes()
		if err != nil || !sleepCtx(ctx, 200*time.Millisecond) {
			return time.Since(t0), false
		}
		b1, n1, err := cpuTimes()
		if err != nil {
			return time.Since(t0), false
		}
		if n1 > n0 && float64(b1-b0)/float64(n1-n0) < idleBelow {
			return time.Since(t0), true
		}
	}
	return time.Since(t0), false
}
