package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ExecUID is the user id executions switch to inside a namespaced worker:
// an id distinct from the worker's own, so code cannot signal, trace or
// read the memory of the interpreter that forked it.
const ExecUID = 1000

// uidRange is the number of ids mapped into each worker's user namespace.
const uidRange = 65536

// hostUIDBase is where workers' id ranges start on the host when retool
// runs as root: far above any real account, one range per worker, so two
// workers never share a host uid either.
const hostUIDBase = 1 << 24

// Native isolates workers with Linux namespaces, cgroups, seccomp and
// rlimits. With isolate false (the "none" backend) it only reaps,
// applies seccomp and rlimits: for hosts without user namespaces.
type Native struct {
	isolate  bool
	root     bool
	cgroups  bool
	degraded []string
	seq      atomic.Uint32
}

// NewNative probes the host once and returns the backend.
func NewNative(isolate bool) *Native {
	n := &Native{isolate: isolate, root: os.Geteuid() == 0}
	sweepStale()
	if n.root && cgroupMode() != "none" {
		path := fmt.Sprintf("retool/probe-%d", os.Getpid())
		if cg, err := newCgroup(path, Limits{}); err == nil {
			n.cgroups = true
			_ = cg.delete()
		}
	}
	if !n.cgroups {
		n.degraded = append(n.degraded,
			"memory: RLIMIT_AS per execution (no usable memory cgroup)",
			"pids: RLIMIT_NPROC per execution (no usable pids cgroup)",
			"cpu: RLIMIT_CPU only, no CPU share (no usable cpu cgroup)")
	}
	if !isolate {
		n.degraded = append(n.degraded, "isolation: none (backend \"none\": no namespaces, host file system and network visible)")
	} else if !n.root {
		n.degraded = append(n.degraded, "exec user: same id as the worker (unprivileged user namespace maps one id)")
	}
	return n
}

// Name implements Sandbox.
func (n *Native) Name() string {
	if n.isolate {
		return "native"
	}
	return "none"
}

// Degraded implements Sandbox.
func (n *Native) Degraded() []string { return append([]string(nil), n.degraded...) }

// Isolated implements Sandbox.
func (n *Native) Isolated() bool { return n.isolate }

// ExecUID implements Sandbox.
func (n *Native) ExecUID() int {
	if n.isolate && n.root {
		return ExecUID
	}
	return -1
}

// Start implements Sandbox.
func (n *Native) Start(ctx context.Context, spec Spec) (Worker, error) {
	for _, p := range spec.ReadOnlyPaths {
		if err := CheckReadOnlyPath(p); err != nil {
			return nil, fmt.Errorf("start sandbox %s: read-only path %w", spec.Name, err)
		}
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("retool-sandbox-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	w := &nativeWorker{dir: dir, done: make(chan struct{})}
	cfg := initConfig{
		Root: dir, Path: spec.Path, Args: spec.Args, Env: spec.Env, Files: spec.Files,
		ReadOnlyPaths: spec.ReadOnlyPaths, WorkDirBytes: spec.WorkDirBytes,
		AllowNetwork: spec.AllowNetwork, NewMountNS: n.isolate, ExtraFiles: len(spec.ExtraFiles),
		StdioFromExtra: spec.StdioFromExtra, UID: spec.UID,
	}
	if !n.isolate {
		// Without a mount namespace the driver files live in the temp dir.
		if err := os.MkdirAll(filepath.Join(dir, ".retool"), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		for name, data := range spec.Files {
			if err := os.WriteFile(filepath.Join(dir, ".retool", name), data, 0o644); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
		cfg.Files = nil
		cfg.Args = rewriteDriverPaths(spec.Args, dir)
		cfg.Path = strings.Replace(spec.Path, "/.retool/", dir+"/.retool/", 1)
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer cfgR.Close()
	cmd := &exec.Cmd{
		// Through the magic link, the namespace's root needs no search
		// permission on the directories above the binary (/root, say).
		Path:       "/proc/self/exe",
		Args:       []string{initArg},
		Env:        []string{"PATH=/usr/bin:/bin"},
		ExtraFiles: append([]*os.File{cfgR}, spec.ExtraFiles...),
		Stderr:     spec.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
			Setpgid:   true,
		},
	}
	if n.isolate {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		if !spec.AllowNetwork {
			cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
		}
		if n.root {
			base := hostUIDBase + int(n.seq.Add(1)%256)*uidRange
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: uidRange}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: uidRange}}
			cmd.SysProcAttr.GidMappingsEnableSetgroups = true
			// Become root of the namespace (a mapped id): host root itself is
			// unmapped there and would hold no capabilities after exec.
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		} else {
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		}
	}
	if n.cgroups {
		path := fmt.Sprintf("retool/%s-%d-%d", sanitize(spec.Name), os.Getpid(), n.seq.Add(1))
		cg, err := newCgroup(path, spec.Limits)
		if err != nil {
			cfgW.Close()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start sandbox %s: %w", spec.Name, err)
		}
		w.cg = cg
	}
	if err := cmd.Start(); err != nil {
		cfgW.Close()
		w.cleanup()
		return nil, fmt.Errorf("start sandbox %s: %w", spec.Name, err)
	}
	w.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	// The init blocks on its config until it sits in the cgroup, so no
	// process of the worker ever runs outside its limits.
	if w.cg != nil {
		if err := w.cg.add(cmd.Process.Pid); err != nil {
			cfgW.Close()
			w.Close()
			return nil, fmt.Errorf("start sandbox %s: join cgroup: %w", spec.Name, err)
		}
	}
	err = json.NewEncoder(cfgW).Encode(cfg)
	cfgW.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start sandbox %s: send config: %w", spec.Name, err)
	}
	return w, nil
}

// sweepStale removes what workers of dead processes left behind: a
// plugin killed with SIGKILL cannot remove its cgroups and temp dirs (its
// workers die with it through the parent-death signal and their pid
// namespaces).
func sweepStale() {
	for _, cg := range staleCgroups() {
		_ = removeCgroup(cg)
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "retool-sandbox-*"))
	for _, d := range dirs {
		if ownerGone(filepath.Base(d)) {
			_ = os.RemoveAll(d)
		}
	}
}

// ownerGone reads the creating pid from NAME-PID-SUFFIX and reports
// whether that process has exited.
func ownerGone(name string) bool {
	parts := strings.Split(name, "-")
	if len(parts) < 3 {
		return false
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func rewriteDriverPaths(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "/.retool/", dir+"/.retool/")
	}
	return out
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

type nativeWorker struct {
	cmd  *exec.Cmd
	cg   cgroup
	dir  string
	done chan struct{}
	once sync.Once
	err  error
}

func (w *nativeWorker) Pid() int              { return w.cmd.Process.Pid }
func (w *nativeWorker) Done() <-chan struct{} { return w.done }

func (w *nativeWorker) ExitStatus() int {
	select {
	case <-w.done:
	default:
		return -1
	}
	if w.cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return w.cmd.ProcessState.ExitCode()
}

func (w *nativeWorker) SetLimits(l Limits) error {
	if w.cg == nil {
		return nil
	}
	return w.cg.update(l)
}

func (w *nativeWorker) OOMKills() (uint64, error) {
	if w.cg == nil {
		return 0, errors.New("no cgroup")
	}
	return w.cg.oomKills()
}

func (w *nativeWorker) Usage() (Usage, error) {
	if w.cg == nil {
		return Usage{}, nil
	}
	return w.cg.usage()
}

// Close kills the init, which takes its pid namespace down with it, then
// waits for the cgroup to empty before removing it.
func (w *nativeWorker) Close() error {
	w.once.Do(func() {
		if w.cmd != nil && w.cmd.Process != nil {
			_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			_ = w.cmd.Process.Kill()
			select {
			case <-w.done:
			case <-time.After(5 * time.Second):
				w.err = errors.New("sandbox init did not exit after SIGKILL")
			}
		}
		w.cleanup()
	})
	return w.err
}

func (w *nativeWorker) cleanup() {
	if w.cg != nil {
		deadline := time.Now().Add(5 * time.Second)
		for {
			procs, err := w.cg.procs()
			if err != nil || len(procs) == 0 {
				break
			}
			for _, p := range procs {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			if time.Now().After(deadline) {
				w.err = fmt.Errorf("cgroup still holds %d processes", len(procs))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := w.cg.delete(); err != nil && w.err == nil {
			w.err = fmt.Errorf("remove cgroup: %w", err)
		}
	}
	if err := os.RemoveAll(w.dir); err != nil && w.err == nil {
		w.err = err
	}
}
