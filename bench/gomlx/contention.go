package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Contention describes how busy the machine was during one section of the
// benchmark: CPU time used by other processes, in cores (0..NumCPU), and
// the load average. Other workloads share this machine, so numbers taken
// while OtherCores is high are pessimistic for every implementation.
type Contention struct {
	Section    string  `json:"section"`
	Seconds    float64 `json:"seconds"`
	SelfCores  float64 `json:"self_cores"`
	OtherCores float64 `json:"other_cores"`
	LoadAvg1   string  `json:"loadavg_at_end"`
}

type cpuSnap struct {
	wall      time.Time
	busyTicks float64 // all CPUs, in clock ticks (USER_HZ, 100/s on Linux)
	selfSec   float64
}

func snapCPU() cpuSnap {
	s := cpuSnap{wall: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i >= 8 { // skip idle, iowait, guest
				continue
			}
			x, _ := strconv.ParseFloat(v, 64)
			s.busyTicks += x
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.selfSec = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	return s
}

func contentionSince(section string, s0 cpuSnap) Contention {
	s1 := snapCPU()
	wall := s1.wall.Sub(s0.wall).Seconds()
	busy := (s1.busyTicks - s0.busyTicks) / 100
	self := s1.selfSec - s0.selfSec
	la, _ := os.ReadFile("/proc/loadavg")
	return Contention{
		Section: section, Seconds: wall,
		SelfCores: self / wall, OtherCores: max(0, busy-self) / wall,
		LoadAvg1: strings.Join(strings.Fields(string(la))[:3], " "),
	}
}
