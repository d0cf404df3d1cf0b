// Package fence puts a second wall around a test binary that runs hostile
// code, so that a sandbox bug (a fork bomb or a memory bomb that escapes a
// worker's limits) fails a test instead of taking the machine down.
//
// As root with cgroup v1 or v2, Setup:
//
//  1. creates a group retool-test-<pid> under the test process's own group
//     in the memory and pids hierarchies, with memory 4 GiB and pids 2048,
//     and moves the test process into it;
//  2. bounds the sandboxes' common parent group retool/ the same way for
//     the run. Workers leave the test's group the moment they start (the
//     native backend puts each in retool/<name>-<pid>-<n>, the containerd
//     backend in retool/ctr-<id>), so only their parent can bound them.
//     It only ever tightens, and Teardown restores the old value if nobody
//     changed it meanwhile.
//
// Without root or usable cgroups it sets RLIMIT_NPROC instead.
package fence

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The fence's bounds.
const (
	Memory = 4 << 30
	Pids   = 2048
	NProc  = 4096
)

// CgroupRoot is where the hierarchies are mounted.
const CgroupRoot = "/sys/fs/cgroup"

// Fence is what Setup put in place and Teardown undoes.
type Fence struct {
	mu    sync.Mutex
	done  bool
	notes []string
	undo  []func() error // run in reverse order
}

// Setup fences the calling test process; Notes say how.
func Setup() *Fence {
	f := &Fence{}
	if os.Geteuid() == 0 {
		var err error
		switch {
		case FileExists(filepath.Join(CgroupRoot, "memory", "cgroup.procs")) &&
			FileExists(filepath.Join(CgroupRoot, "pids", "cgroup.procs")):
			err = f.setupV1()
		case FileExists(filepath.Join(CgroupRoot, "cgroup.controllers")):
			err = f.setupV2()
		default:
			err = errors.New("no cgroup hierarchy")
		}
		if err == nil {
			return f
		}
		f.note("cgroup fence unavailable (%v)", err)
		f.runUndo()
	}
	f.setupRlimit()
	return f
}

// Notes describe the fence, for the test log.
func (f *Fence) Notes() string { return strings.Join(f.notes, "; ") }

// Teardown moves the test process back and removes the fence; a second
// call does nothing.
func (f *Fence) Teardown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	f.runUndo()
}

func (f *Fence) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

// setupV1 fences the test process in memory and pids groups nested below
// its current ones and bounds the sandbox's retool/ parents.
func (f *Fence) setupV1() error {
	pid := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		ctrl, file string
		value      int64
	}{{"memory", "memory.limit_in_bytes", Memory}, {"pids", "pids.max", Pids}} {
		own, err := OwnCgroupV1(c.ctrl)
		if err != nil {
			return err
		}
		orig := filepath.Join(CgroupRoot, c.ctrl, own)
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
		if err := f.boundParent(filepath.Join(CgroupRoot, c.ctrl, "retool"), c.file, c.value); err != nil {
			return err
		}
	}
	return nil
}

// setupV2 does the same on the unified hierarchy, best effort: the test
// process must be able to enable memory and pids below its own group.
func (f *Fence) setupV2() error {
	pid := strconv.Itoa(os.Getpid())
	own, err := ownCgroupV2()
	if err != nil {
		return err
	}
	orig := filepath.Join(CgroupRoot, own)
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
	if err := writeFile(filepath.Join(dir, "memory.max"), strconv.Itoa(Memory)); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "pids.max"), strconv.Itoa(Pids)); err != nil {
		return err
	}
	f.note("test process in %s (memory.max=%d pids.max=%d)", dir, Memory, Pids)
	parent := filepath.Join(CgroupRoot, "retool")
	if err := f.boundParent(parent, "memory.max", Memory); err != nil {
		return err
	}
	return f.boundParent(parent, "pids.max", Pids)
}

// boundParent lowers file in the sandbox's parent group to value for the
// run (creating the group if it does not exist yet) and restores it after.
func (f *Fence) boundParent(dir, file string, value int64) error {
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

func (f *Fence) setupRlimit() {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &cur); err != nil {
		f.note("no fence: getrlimit: %v", err)
		return
	}
	lim := unix.Rlimit{Cur: min(cur.Cur, NProc), Max: min(cur.Max, NProc)}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
		f.note("no fence: setrlimit: %v", err)
		return
	}
	f.note("RLIMIT_NPROC=%d (no cgroup fence)", lim.Cur)
}

func (f *Fence) runUndo() {
	for i := len(f.undo) - 1; i >= 0; i-- {
		if err := f.undo[i](); err != nil {
			fmt.Fprintf(os.Stderr, "fence: teardown: %v\n", err)
		}
	}
	f.undo = nil
}

// OwnCgroupV1 is the test process's group in the v1 hierarchy ctrl.
func OwnCgroupV1(ctrl string) (string, error) {
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

// FileExists reports whether path exists.
func FileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
