package pool

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
)

// cpuWeightFile finds the CPU weight file (cpu.shares on cgroup v1,
// cpu.weight on v2) of the one cgroup whose path holds the pool's name.
func cpuWeightFile(t *testing.T, name string) string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(filepath.Base(p), name) || strings.Contains(p, name+"/") {
			for _, f := range []string{"cpu.shares", "cpu.weight"} {
				if _, err := os.Stat(filepath.Join(p, f)); err == nil {
					found = append(found, filepath.Join(p, f))
				}
			}
			return fs.SkipDir
		}
		return nil
	})
	if len(found) != 1 {
		t.Skipf("no single CPU weight file for pool %s under /sys/fs/cgroup (found %v)", name, found)
	}
	return found[0]
}

func readWeight(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// weightFor is the file's value for cpu.shares s.
func weightFor(path string, s uint64) uint64 {
	if filepath.Base(path) == "cpu.weight" {
		return min(max(s*100/1024, 1), 10000)
	}
	return s
}

// TestDemoteLongExecutions: an execution that runs past DemoteAfter has
// its worker's CPU weight lowered while it runs; a killed one gets it
// back as it is killed, and the next execution runs at full weight.
func TestDemoteLongExecutions(t *testing.T) {
	h := newPythonPoolWith(t, 1, func(c *Config) { c.DemoteAfter = 100 * time.Millisecond })
	h.run(t, &execution.Request{Code: "print(1)", Limits: small})
	path := cpuWeightFile(t, h.name)
	if got, want := readWeight(t, path), weightFor(path, sharesNormal); got != want {
		t.Fatalf("a short execution left %s at %d, want %d", path, got, want)
	}

	// Spins until its wall time: demoted while it runs, restored by the kill.
	spin := &execution.Request{Code: "while True:\n    pass\n", Limits: small}
	spin.Limits.WallTime = 3 * time.Second
	done := make(chan execution.Result, 1)
	go func() { done <- h.run(t, spin) }()
	low := weightFor(path, sharesDemoted)
	seen := false
	for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline) && !seen; time.Sleep(20 * time.Millisecond) {
		seen = readWeight(t, path) == low
	}
	res := <-done
	if res.Status != execution.Timeout {
		t.Fatalf("spin: %s", describe(res))
	}
	if !seen {
		t.Fatalf("a spinning execution never had its CPU weight lowered to %d (%s)", low, path)
	}
	if got, want := readWeight(t, path), weightFor(path, sharesNormal); got != want {
		t.Fatalf("after the kill %s is %d, want %d", path, got, want)
	}

	// Ends on its own after the demotion: the next execution restores.
	h.run(t, &execution.Request{Code: "import time\nt = time.time()\nwhile time.time() - t < 0.4:\n    pass\n", Limits: small})
	if got := readWeight(t, path); got != low {
		t.Fatalf("a 0.4 s execution left %s at %d, want %d until the next one", path, got, low)
	}
	res = h.run(t, &execution.Request{Code: "print(2)", Limits: small})
	if string(res.Stdout) != "2\n" {
		t.Fatalf("next: %s", describe(res))
	}
	if got, want := readWeight(t, path), weightFor(path, sharesNormal); got != want {
		t.Fatalf("the next execution ran with %s at %d, want %d", path, got, want)
	}
}
