package pool

// The outer fence (core/sandbox/fence) puts the test binary and every
// worker's parent group under memory and pids bounds for the run, so that
// a sandbox bug fails a test instead of taking the machine down. Around
// it, TestMain:
//
//   - points TMPDIR at a private directory, so that the sandbox's
//     /tmp/retool-sandbox-* directories created by this binary can be told
//     apart from those of other processes;
//   - starts what the selected sandbox backend needs (backend_test.go);
//   - arms a watchdog that tears the fence down and dumps every goroutine
//     shortly before -test.timeout;
//   - at the end checks that this binary left nothing behind (worker
//     cgroups named ...-<pid>-<n>, worker processes, sandbox temp dirs,
//     containerd objects) and fails the run if it did.

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/sandbox/fence"
)

const cgroupRoot = fence.CgroupRoot

// fenceState is what TestMain set up and must undo.
type fenceState struct {
	mu       sync.Mutex
	done     bool
	fence    *fence.Fence
	problems []string // leftovers found at the end: fail the run
	tmpDir   string
}

func TestMain(m *testing.M) {
	flag.Parse()
	f := &fenceState{}
	var notes []string
	if dir, err := os.MkdirTemp("", "retool-hostile-"); err == nil {
		// The sandbox's init (a mapped, unprivileged host uid) must be able
		// to reach its directory below this one.
		_ = os.Chmod(dir, 0o755)
		f.tmpDir = dir
		os.Setenv("TMPDIR", dir)
		notes = append(notes, "TMPDIR="+dir)
	}
	f.fence = fence.Setup()
	fmt.Fprintf(os.Stderr, "fence: %s\n", strings.Join(append(notes, f.fence.Notes()), "; "))
	if err := setupBackend(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox backend %s: %v\n", testBackend.name, err)
		f.teardown()
		os.Exit(1)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var watchdog <-chan time.Time
	if tf := flag.Lookup("test.timeout"); tf != nil {
		if d, err := time.ParseDuration(tf.Value.String()); err == nil && d > time.Minute {
			watchdog = time.After(d - 20*time.Second)
		}
	}
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "fence: got %v, tearing down\n", s)
		case <-watchdog:
			fmt.Fprintln(os.Stderr, "fence: watchdog: the tests are about to hit -test.timeout; goroutines:")
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		}
		f.teardown()
		os.Exit(2)
	}()

	code := m.Run()
	f.teardown()
	if len(f.problems) > 0 {
		for _, p := range f.problems {
			fmt.Fprintf(os.Stderr, "fence: LEFTOVER: %s\n", p)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// teardown checks for leftovers of this binary, then undoes the fence.
func (f *fenceState) teardown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	f.problems = append(f.problems, binaryLeftovers(f.tmpDir)...)
	f.problems = append(f.problems, backendLeftovers("")...)
	if err := teardownBackend(); err != nil {
		f.problems = append(f.problems, "stop containerd: "+err.Error())
	}
	f.fence.Teardown()
	if f.tmpDir != "" {
		os.RemoveAll(f.tmpDir)
	}
}

// binaryLeftovers lists what workers of this test binary left behind.
func binaryLeftovers(tmpDir string) []string {
	var out []string
	me := os.Getpid()
	suffix := fmt.Sprintf("-%d-", me)
	for _, ctrl := range sandboxControllers {
		entries, _ := os.ReadDir(filepath.Join(cgroupRoot, ctrl, "retool"))
		for _, e := range entries {
			if e.IsDir() && (strings.Contains(e.Name(), suffix) || e.Name() == fmt.Sprintf("probe-%d", me)) {
				out = append(out, fmt.Sprintf("cgroup %s/retool/%s", ctrl, e.Name()))
			}
		}
	}
	for _, p := range hostProcs() {
		if p.uid >= sandboxUIDBase && p.ppid == me {
			out = append(out, fmt.Sprintf("process %d (uid %d, %q)", p.pid, p.uid, p.cmdline))
		}
	}
	if tmpDir != "" {
		if m, _ := filepath.Glob(filepath.Join(tmpDir, "retool-sandbox-*")); len(m) > 0 {
			out = append(out, fmt.Sprintf("sandbox temp dirs %v", m))
		}
	}
	return out
}

// TestFenceActive checks that TestMain's fence is in place when it can be.
func TestFenceActive(t *testing.T) {
	if os.Geteuid() != 0 || !fence.FileExists(filepath.Join(cgroupRoot, "pids", "cgroup.procs")) {
		t.Skip("no cgroup v1 fence on this host (RLIMIT_NPROC only)")
	}
	name := "retool-test-" + strconv.Itoa(os.Getpid())
	for _, c := range []struct{ ctrl, file string }{{"memory", "memory.limit_in_bytes"}, {"pids", "pids.max"}} {
		own, err := fence.OwnCgroupV1(c.ctrl)
		if err != nil || filepath.Base(own) != name {
			t.Errorf("%s: the test process is in %q (%v), not in the fence %s", c.ctrl, own, err, name)
		}
		b, err := os.ReadFile(filepath.Join(cgroupRoot, c.ctrl, "retool", c.file))
		if err != nil {
			t.Errorf("the sandbox's parent group is not bounded: %v", err)
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if limit := map[string]int64{"memory": fence.Memory, "pids": fence.Pids}[c.ctrl]; err != nil || n > limit {
			t.Errorf("%s/retool/%s = %q, want <= %d", c.ctrl, c.file, b, limit)
		}
	}
}
