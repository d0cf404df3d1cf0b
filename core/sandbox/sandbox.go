package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sandbox starts isolated workers.
type Sandbox interface {
	// Start launches spec.Path inside a fresh sandbox. The worker keeps
	// running until Close or until its program exits.
	Start(ctx context.Context, spec Spec) (Worker, error)
	// Degraded names the mechanisms this host lacks and what replaces
	// them, e.g. "memory: RLIMIT_AS (no memory cgroup)". Empty when the
	// backend enforces everything itself.
	Degraded() []string
	// Name is the backend's name as written in retool.hcl.
	Name() string
	// ExecUID is the user id executions should switch to inside a worker,
	// or -1 when the backend cannot give them an id of their own.
	ExecUID() int
	// Isolated reports whether a worker has its own pid and mount
	// namespaces (so everything but its init belongs to the worker).
	Isolated() bool
}

// Worker is one sandboxed process tree.
type Worker interface {
	// Pid is the host pid of the worker's first process.
	Pid() int
	// SetLimits changes the limits enforced on the whole worker (its
	// cgroup); called before each execution.
	SetLimits(Limits) error
	// Usage reads the worker's accounting.
	Usage() (Usage, error)
	// OOMKills reads the worker's count of OOM kills alone (cheap); an
	// error means the host does not track it.
	OOMKills() (uint64, error)
	// Done is closed when the worker's process tree has exited.
	Done() <-chan struct{}
	// ExitStatus is the program's exit code, or 128+signal, once Done.
	ExitStatus() int
	// Close kills every process of the worker and removes its cgroup,
	// mounts and temporary directories. It is safe to call twice.
	Close() error
}

// Spec describes the program a worker runs and the sandbox around it.
type Spec struct {
	// Name identifies the worker in logs and cgroup names ("python-0").
	Name string
	// Path, Args and Env of the program as seen inside the sandbox.
	Path string
	Args []string
	Env  []string
	// Files are written (read-only for the code) under /.retool inside the
	// sandbox before the program starts: driver scripts and the like.
	Files map[string][]byte
	// ReadOnlyPaths are extra host paths made visible read-only.
	ReadOnlyPaths []string
	// WorkDirBytes caps the tmpfs mounted at /work (and /tmp).
	WorkDirBytes int64
	// AllowNetwork keeps the host's network; by default the worker has
	// its own network namespace with only loopback.
	AllowNetwork bool
	// Limits applied to the worker as a whole from the start.
	Limits Limits
	// ExtraFiles are passed to the program as fd 3, 4, ...
	ExtraFiles []*os.File
	// StdioFromExtra makes ExtraFiles[0:3] the program's stdin, stdout and
	// stderr; the rest follow from fd 3.
	StdioFromExtra bool
	// UID the program runs as; -1 keeps the sandbox's root (which holds
	// only the capabilities a fork server needs).
	UID int
	// Stderr receives the program's own stderr (driver diagnostics).
	Stderr *os.File
}

// Limits bound a worker. Zero means "no limit from this field".
type Limits struct {
	MemoryBytes int64
	Pids        int
	// CPUs is the share of CPU the worker may use (1.0 = one core).
	CPUs float64
	// CPUShares is the worker's weight against the host's other
	// processes when the CPUs are contended, in cgroup v1's unit
	// (cpu.shares; the kernel's default is 1024, cgroup v2's weight is
	// scaled from it); 0 leaves it unset.
	CPUShares uint64
}

// Usage is what the kernel accounted for a worker.
type Usage struct {
	CPUTime       time.Duration
	PeakMemory    int64
	OOMKills      uint64
	CgroupTracked bool
}

// ownMounts are the directories a sandbox makes fresh for every worker: a
// host path below one of them would be hidden (native) or left inside a
// directory the zygote empties after each execution (containerd).
var ownMounts = []string{"/tmp", "/work", "/proc", "/dev", "/sys", "/run", "/.retool", "/.retool-init"}

// CheckReadOnlyPath refuses a host path that cannot be shown read-only in
// a worker: a relative one, or one at or below the sandbox's own mounts.
func CheckReadOnlyPath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	p = filepath.Clean(p)
	for _, m := range ownMounts {
		if p == m || strings.HasPrefix(p, m+"/") {
			return fmt.Errorf("%q is at or below %s, which every sandbox replaces with its own", p, m)
		}
	}
	return nil
}

// ErrUnavailable is returned when a backend cannot run on this host.
var ErrUnavailable = errors.New("sandbox backend unavailable on this host")
