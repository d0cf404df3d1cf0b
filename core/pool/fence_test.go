package pool

// The outer fence: a second wall around the test binary so that a sandbox
// bug (a fork bomb or a memory bomb that escapes a worker's limits) fails a
// test instead of taking the machine down.
//
// What it does, as root with cgroup v1 (this host) or v2:
//
//  1. It creates a cgroup retool-test-<pid> under the test process's own
//     group in the memory and pids hierarchies (for pids that is
//     /sys/fs/cgroup/pids/retool-test-<pid>; for memory it is nested under
//     whatever group the harness put us in, so that we never leave the
//     harness's own accounting), with memory 4 GiB and pids 2048, and moves
//     the test process into it.
//  2. That group alone does NOT bound the workers: the sandbox creates each
//     worker's cgroup at the absolute path /sys/fs/cgroup/<ctrl>/retool/
//     <name>-<pid>-<n> and moves the worker's init there before it runs
//     anything, so the workers leave the test's group (and, on v1, the
//     harness's memory group) the moment they start. So the fence also
//     bounds the common parent /sys/fs/cgroup/<ctrl>/retool itself (memory
//     4 GiB, pids 2048) for the duration of the run: every worker of every
//     pool is below it and cgroup limits are hierarchical. It only ever
//     tightens (a stricter value already there is kept) and restores the
//     previous value at the end if nobody changed it meanwhile.
//  3. At the end it checks that this binary left nothing behind (worker
//     cgroups named ...-<pid>-<n>, worker processes, sandbox temp dirs),
//     moves itself back to its original groups and removes the fence.
//
// Without root or usable cgroups it sets RLIMIT_NPROC instead.
//
// It also points TMPDIR at a private directory, so that the sandbox's
// /tmp/retool-sandbox-* directories created by this binary can be told
// apart from those of other processes, and it arms a watchdog that tears
// the fence down and dumps every goroutine shortly before -test.timeout.

import (
	"bufio"
	"errors"
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

	"golang.org/x/sys/unix"
)

const (
	fenceMemory = 4 << 30
	fencePids   = 2048
	fenceNProc  = 4096
	cgroupRoot  = "/sys/fs/cgroup"
)

// fenceState is what TestMain set up and must undo.
type fenceState struct {
	mu       sync.Mutex
	done     bool
	notes    []string
	undo     []func() error // run in reverse order
	problems []string       // leftovers found at the end: fail the run
	tmpDir   string
}

func TestMain(m *testing.M) {
	flag.Parse()
	f := &fenceState{}
	f.setup()
	fmt.Fprintf(os.Stderr, "fence: %s\n", strings.Join(f.notes, "; "))
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

func (f *fenceState) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

func (f *fenceState) setup() {
	if dir, err := os.MkdirTemp("", "retool-hostile-"); err == nil {
		// The sandbox's init (a mapped, unprivileged host uid) must be able
		// to reach its directory below this one.
		_ = os.Chmod(dir, 0o755)
		f.tmpDir = dir
		os.Setenv("TMPDIR", dir)
		f.note("TMPDIR=%s", dir)
	}
	if os.Geteuid() == 0 {
		var err error
		switch {
		case fileExists(filepath.Join(cgroupRoot, "memory", "cgroup.procs")) &&
			fileExists(filepath.Join(cgroupRoot, "pids", "cgroup.procs")):
			err = f.setupV1()
		case fileExists(filepath.Join(cgroupRoot, "cgroup.controllers")):
			err = f.setupV2()
		default:
			err = errors.New("no cgroup hierarchy")
		}
		if err == nil {
			return
		}
		f.note("cgroup fence unavailable (%v)", err)
		f.runUndo()
	}
	f.setupRlimit()
}

// setupV1 fences the test process in memory and pids groups nested below
// its current ones and bounds the sandbox's retool/ parents.
func (f *fenceState) setupV1() error {
	pid := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		ctrl, file string
		value      int64
	}{{"memory", "memory.limit_in_bytes", fenceMemory}, {"pids", "pids.max", fencePids}} {
		own, err := ownCgroupV1(c.ctrl)
		if err != nil {
			return err
		}
		orig := filepath.Join(cgroupRoot, c.ctrl, own)
		dir := filepath.Join(orig, "retool-test-"+pid)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		f.undo = append(f.undo, func() error { return rmdirRetry(dir) })
		if err := writeFile(filepath.Join(dir, c.file), strconv.FormatInt(c.value, 10)); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, "cgroup.procs"), pid); err != nil {
			return fmt.Errorf("join %s: %w", dir, err)
		}
		f.undo = append(f.undo, func() error {
			err := writeFile(filepath.Join(orig, "cgroup.procs"), pid)
			killStragglers(dir)
			return err
		})
		f.note("test process in %s (%s=%d)", dir, c.file, c.value)
		if err := f.boundParent(filepath.Join(cgroupRoot, c.ctrl, "retool"), c.file, c.value); err != nil {
			return err
		}
	}
	return nil
}

// setupV2 does the same on the unified hierarchy, best effort: the test
// process must be able to enable memory and pids below its own group.
func (f *fenceState) setupV2() error {
	pid := strconv.Itoa(os.Getpid())
	own, err := ownCgroupV2()
	if err != nil {
		return err
	}
	orig := filepath.Join(cgroupRoot, own)
	dir := filepath.Join(orig, "retool-test-"+pid)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f.undo = append(f.undo, func() error { return rmdirRetry(dir) })
	if err := writeFile(filepath.Join(dir, "cgroup.procs"), pid); err != nil {
		return fmt.Errorf("join %s: %w", dir, err)
	}
	f.undo = append(f.undo, func() error {
		err := writeFile(filepath.Join(orig, "cgroup.procs"), pid)
		killStragglers(dir)
		return err
	})
	// Our old group is now empty, so it may delegate controllers.
	_ = writeFile(filepath.Join(orig, "cgroup.subtree_control"), "+memory +pids")
	if err := writeFile(filepath.Join(dir, "memory.max"), strconv.Itoa(fenceMemory)); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "pids.max"), strconv.Itoa(fencePids)); err != nil {
		return err
	}
	f.note("test process in %s (memory.max=%d pids.max=%d)", dir, fenceMemory, fencePids)
	parent := filepath.Join(cgroupRoot, "retool")
	if err := f.boundParent(parent, "memory.max", fenceMemory); err != nil {
		return err
	}
	return f.boundParent(parent, "pids.max", fencePids)
}

// boundParent lowers file in the sandbox's parent group to value for the
// run (creating the group if it does not exist yet) and restores it after.
func (f *fenceState) boundParent(dir, file string, value int64) error {
	if err := os.Mkdir(dir, 0o755); err == nil {
		f.undo = append(f.undo, func() error {
			_ = os.Remove(dir) // fails harmlessly while another process uses it
			return nil
		})
	} else if !os.IsExist(err) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	old := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(old, 10, 64); err == nil && n <= value {
		f.note("%s already %s", path, old)
		return nil
	}
	want := strconv.FormatInt(value, 10)
	if err := writeFile(path, want); err != nil {
		return err
	}
	f.note("%s=%s for the run (was %s)", path, want, old)
	f.undo = append(f.undo, func() error {
		cur, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(cur)) != want {
			return nil // gone, or someone else changed it: leave it
		}
		return writeFile(path, old)
	})
	return nil
}

func (f *fenceState) setupRlimit() {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &cur); err != nil {
		f.note("no fence: getrlimit: %v", err)
		return
	}
	lim := unix.Rlimit{Cur: min(cur.Cur, fenceNProc), Max: min(cur.Max, fenceNProc)}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
		f.note("no fence: setrlimit: %v", err)
		return
	}
	f.note("RLIMIT_NPROC=%d (no cgroup fence)", lim.Cur)
}

func (f *fenceState) runUndo() {
	for i := len(f.undo) - 1; i >= 0; i-- {
		if err := f.undo[i](); err != nil {
			fmt.Fprintf(os.Stderr, "fence: teardown: %v\n", err)
		}
	}
	f.undo = nil
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
	f.runUndo()
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

func ownCgroupV1(ctrl string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctrl {
				return parts[2], nil
			}
		}
	}
	return "", fmt.Errorf("no %s line in /proc/self/cgroup", ctrl)
}

func ownCgroupV2() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", errors.New("no unified line in /proc/self/cgroup")
}

// killStragglers kills what is still in a fence group after the test
// process left it (only descendants of the test binary can be there).
func killStragglers(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("remove %s: %w", dir, err)
}

func writeFile(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestFenceActive checks that TestMain's fence is in place when it can be.
func TestFenceActive(t *testing.T) {
	if os.Geteuid() != 0 || !fileExists(filepath.Join(cgroupRoot, "pids", "cgroup.procs")) {
		t.Skip("no cgroup v1 fence on this host (RLIMIT_NPROC only)")
	}
	name := "retool-test-" + strconv.Itoa(os.Getpid())
	for _, c := range []struct{ ctrl, file string }{{"memory", "memory.limit_in_bytes"}, {"pids", "pids.max"}} {
		own, err := ownCgroupV1(c.ctrl)
		if err != nil || filepath.Base(own) != name {
			t.Errorf("%s: the test process is in %q (%v), not in the fence %s", c.ctrl, own, err, name)
		}
		b, err := os.ReadFile(filepath.Join(cgroupRoot, c.ctrl, "retool", c.file))
		if err != nil {
			t.Errorf("the sandbox's parent group is not bounded: %v", err)
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if limit := map[string]int64{"memory": fenceMemory, "pids": fencePids}[c.ctrl]; err != nil || n > limit {
			t.Errorf("%s/retool/%s = %q, want <= %d", c.ctrl, c.file, b, limit)
		}
	}
}
