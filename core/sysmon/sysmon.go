// Package sysmon keeps the Go runtime's system monitor out of its deep
// sleep in retool's long-running processes (the server, runtime plugins).
//
// Such a process goes idle and wakes again about once an execution: it
// waits on a zygote, then makes a few system calls. When every P is idle
// the monitor thread sleeps deeply, the next system call wakes it, and it
// then polls every 20 µs for a millisecond before backing off: thousands
// of timer wakeups a second, each of them costly on a virtual machine.
// Measured on the 2-core VM retool is benchmarked on, with print(1+1) at
// concurrency 64: the monitor was a third of the python plugin's CPU
// (~7,000 wakeups a second), and keeping it out of deep sleep took
// `retool serve` from ~930 to ~1,130 executions a second and its p99
// from ~90 to ~70 ms.
//
// The runtime has one switch for that: a schedtrace period. With a period
// of ~24.8 days (the largest it takes) the monitor never sleeps deeply,
// backs off to its 10 ms maximum when there is nothing to do (~0.2% of a
// core in an idle process), and would print one scheduler line to stderr
// at start only on a host up for longer than the period, then once every
// period. A GODEBUG that already sets schedtrace is left alone, so
// GODEBUG=schedtrace=0 turns this off.
package sysmon

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Setting is the GODEBUG entry that keeps the monitor out of deep sleep.
const Setting = "schedtrace=2147483647"

// Env returns environ with Setting added to GODEBUG, unless GODEBUG
// already sets schedtrace. GODEBUG ends up set once, with the value the
// last GODEBUG entry had (as os/exec would pick).
func Env(environ []string) []string {
	godebug := ""
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	switch {
	case setsSchedtrace(godebug):
	case godebug == "":
		godebug = Setting
	default:
		godebug += "," + Setting
	}
	return append(out, "GODEBUG="+godebug)
}

func setsSchedtrace(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if k, _, _ := strings.Cut(kv, "="); strings.TrimSpace(k) == "schedtrace" {
			return true
		}
	}
	return false
}

// Active reports whether this process's GODEBUG sets schedtrace (the
// runtime reads it only at start).
func Active() bool { return setsSchedtrace(os.Getenv("GODEBUG")) }

// Reexec replaces this process with the same program and arguments under
// Env(os.Environ()), unless GODEBUG already sets schedtrace. It returns
// nil without doing anything then, and an error if the exec failed (the
// process goes on as it was).
func Reexec() error {
	if Active() {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("re-exec with %s: %w", Setting, err)
	}
	if err := syscall.Exec(exe, os.Args, Env(os.Environ())); err != nil {
		return fmt.Errorf("re-exec %s with %s: %w", exe, Setting, err)
	}
	return nil // not reached
}
