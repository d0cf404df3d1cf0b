package containerd

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/retool-rl/retool/core/sandbox"
)

// HostImage is the image workers use when none is configured: built here
// by EnsureHostImage, with the host's /usr and /etc mounted read-only.
const HostImage = "retool.local/host:2"

const (
	// leaseTTL lets containerd's GC reclaim a snapshot even if this process
	// dies between creating it and the container that references it.
	leaseTTL = 10 * time.Minute
	// cleanupTimeout bounds each delete of a worker's removal.
	cleanupTimeout = 30 * time.Second
)

// handOffTimeout bounds the wait for a started container's init to
// connect (the program's own start is bounded by its pool).
const handOffTimeout = 30 * time.Second

// ownerLabel marks a worker container with the pid of the process that
// created it, so that a later process can remove what a killed one left.
const ownerLabel = "retool.owner.pid"

// SandboxConfig configures the containerd backend.
type SandboxConfig struct {
	Config
	// Image is the workers' image; empty means HostImage. Another image
	// must hold the interpreter itself and is pulled when containerd does
	// not have it (where a registry is reachable).
	Image string
	// Init is the binary mounted as each container's init; empty means
	// this process's executable. It must link core/sandbox, and be static
	// (CGO_ENABLED=0) for images without a compatible C library.
	Init string
}

// Sandbox runs each worker as a containerd task. It implements
// sandbox.Sandbox: the pools and their zygote drivers work unchanged,
// because the container's init receives the worker's descriptors over a
// unix socket where the native init inherits them.
type Sandbox struct {
	c        *Client
	image    containerd.Image
	hostBind bool // the host image: bind the host's system directories
	self     string
	seq      atomic.Uint64
	// noCgroup: the last worker's cgroup could not be opened on this host
	// (a runtime that puts it elsewhere).
	noCgroup atomic.Bool
	// Removals that failed (a daemon that is down) are retried in the
	// background until they succeed or the sandbox is closed.
	ctx     context.Context
	cancel  context.CancelFunc
	retries sync.WaitGroup
}

var _ sandbox.Sandbox = (*Sandbox)(nil)

// NewSandbox connects to containerd, prepares the image and removes the
// workers of earlier processes that died without removing them.
func NewSandbox(ctx context.Context, cfg SandboxConfig) (*Sandbox, error) {
	self := cfg.Init
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("containerd sandbox: find own binary: %w", err)
		}
	}
	c, err := Connect(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{c: c, self: self}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ref := cfg.Image
	if ref == "" {
		ref, s.hostBind = HostImage, true
		err = c.EnsureHostImage(ctx, ref)
	} else {
		err = c.pullImage(ctx, ref)
	}
	if err == nil {
		s.image, err = c.c.GetImage(c.ns(ctx), ref)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(c.cfg.StateDir, "workers"), 0o755); err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd sandbox: %w", err)
	}
	s.sweep(ctx)
	return s, nil
}

// Name implements sandbox.Sandbox.
func (s *Sandbox) Name() string { return "containerd" }

// Degraded implements sandbox.Sandbox.
func (s *Sandbox) Degraded() []string {
	if s.noCgroup.Load() {
		return []string{"accounting: the container's cgroup is not readable here; no OOM detection or peak memory, limits retuned through the runtime"}
	}
	return nil
}

// ExecUID implements sandbox.Sandbox: the container's init runs as its
// root, so executions can switch to an id of their own.
func (s *Sandbox) ExecUID() int { return sandbox.ExecUID }

// Isolated implements sandbox.Sandbox.
func (s *Sandbox) Isolated() bool { return true }

// Client is the backend's connection (for leak checks and doctor).
func (s *Sandbox) Client() *Client { return s.c }

// Close gives removals that failed one last try and closes the
// connection. Workers still open are not stopped: their pools own them.
func (s *Sandbox) Close() error {
	s.cancel()
	s.retries.Wait()
	return s.c.Close()
}

// Start implements sandbox.Sandbox: it creates a container for spec,
// starts its task and hands the program its descriptors.
func (s *Sandbox) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Worker, error) {
	for _, p := range spec.ReadOnlyPaths {
		if err := sandbox.CheckReadOnlyPath(p); err != nil {
			return nil, fmt.Errorf("start %s worker in containerd: read-only path %w", spec.Name, err)
		}
	}
	name := sanitize(spec.Name)
	seq := s.seq.Add(1)
	id := fmt.Sprintf("%s-%d-%d", name, os.Getpid(), seq)
	w := &worker{s: s, id: id, seq: seq, done: make(chan struct{}), status: -1,
		cgroup: "/retool/ctr-" + id}
	if err := w.start(ctx, spec); err != nil {
		w.Close()
		return nil, fmt.Errorf("start %s worker in containerd: %w", spec.Name, err)
	}
	return w, nil
}

type worker struct {
	s      *Sandbox
	id     string
	seq    uint64
	cgroup string
	dir    string
	ctr    containerd.Container
	task   containerd.Task
	pid    int
	cg     *sandbox.Cgroup

	done     chan struct{}
	status   int
	waitStop context.CancelFunc
	once     sync.Once
	err      error
}

func (w *worker) start(ctx context.Context, spec sandbox.Spec) error {
	c := w.s.c
	ctx = c.ns(ctx)
	// PID-SEQ, not the id: the socket's path must stay under 108 bytes.
	dir := filepath.Join(c.cfg.StateDir, "workers", fmt.Sprintf("%d-%d", os.Getpid(), w.seq))
	_ = os.RemoveAll(dir) // a dead process's, whose pid this one reuses
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	w.dir = dir
	for name, data := range spec.Files {
		if strings.Contains(name, "/") || name == ".." {
			return fmt.Errorf("driver file name %q must be a plain name", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	sock := filepath.Join(dir, "init.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("listen for the container init: %w", err)
	}
	// Only the container's root (a mapped id) may connect.
	if err := os.Chown(sock, w.hostUID(), w.hostUID()); err != nil {
		ln.Close()
		return fmt.Errorf("listen for the container init: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("listen for the container init: %w", err)
	}
	// The listener goes once the init has connected: code that runs later
	// in the container finds nothing to connect to.
	defer ln.Close()
	ln.SetUnlinkOnClose(true)

	// The lease covers the snapshot until the container references it.
	ls := c.c.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(leaseTTL))
	if err != nil {
		return fmt.Errorf("create lease: %w", err)
	}
	lctx := leases.WithLease(ctx, lease.ID)
	ids := w.idMap()
	w.ctr, err = c.c.NewContainer(lctx, w.id,
		containerd.WithSnapshotter(c.cfg.Snapshotter),
		c.runtime(),
		// The rootfs is chowned into the worker's id range once per range
		// and image (a committed snapshot, reused by later workers).
		containerd.WithUserNSRemappedSnapshot(w.id, w.s.image, ids, ids),
		containerd.WithContainerLabels(map[string]string{ownerLabel: strconv.Itoa(os.Getpid())}),
		containerd.WithNewSpec(w.specOpts(spec)...),
	)
	if derr := ls.Delete(context.WithoutCancel(ctx), lease); derr != nil && err == nil {
		err = fmt.Errorf("delete lease: %w", derr)
	}
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	// The init gets its stderr over the socket; what it writes before that
	// (why it could not connect) goes to a file the shim writes itself.
	w.task, err = w.ctr.NewTask(ctx, cio.LogFile(filepath.Join(dir, "init.log")))
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	w.pid = int(w.task.Pid())
	waitCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.waitStop = cancel
	statusC, err := w.task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("wait task: %w", err)
	}
	go w.wait(waitCtx, statusC)
	if err := w.task.Start(ctx); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, handOffTimeout)
	defer cancel()
	go func() {
		select {
		case <-w.done:
			cancel()
		case <-hctx.Done():
		}
	}()
	if err := sandbox.HandOff(hctx, ln, spec); err != nil {
		select {
		case <-w.done:
			log, _ := os.ReadFile(filepath.Join(dir, "init.log"))
			hint := ""
			if !w.s.hostBind && dynamic(w.s.self) {
				hint = fmt.Sprintf(" (%s is dynamically linked: images without a compatible C library need a static build, CGO_ENABLED=0)", w.s.self)
			}
			return fmt.Errorf("container init exited with status %d before taking the program: %s%s",
				w.status, strings.TrimSpace(string(log)), hint)
		default:
		}
		return err
	}
	w.cg, err = sandbox.LoadCgroup(w.cgroup)
	w.s.noCgroup.Store(err != nil)
	return nil
}

// wait records the task's exit. A daemon that restarts breaks the wait
// stream without the task exiting (its shim keeps it running), so the
// wait is renewed until the task's exit is known or the worker closed.
func (w *worker) wait(ctx context.Context, statusC <-chan containerd.ExitStatus) {
	defer close(w.done)
	for {
		st := <-statusC
		code, _, err := st.Result()
		if err == nil {
			w.status = int(code)
			return
		}
		for {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			statusC, err = w.task.Wait(ctx)
			if err == nil {
				break
			}
			if errdefs.IsNotFound(err) {
				return
			}
		}
	}
}

// specOpts builds a worker's OCI spec. The default spec already gives
// new pid, ipc, uts, mount and network namespaces (runc brings up only
// "lo" in the new network namespace) and masks /proc's host details.
func (w *worker) specOpts(spec sandbox.Spec) []oci.SpecOpts {
	ro := []string{"rbind", "ro", "nosuid", "nodev"}
	size := spec.WorkDirBytes
	if size <= 0 {
		size = sandbox.DefaultWorkDirBytes
	}
	tmpfs := func(dest, mode string, size int64, inodes int, extra ...string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs",
			Options: append([]string{"nosuid", "nodev", "mode=" + mode,
				fmt.Sprintf("size=%d", size), fmt.Sprintf("nr_inodes=%d", inodes)}, extra...)}
	}
	mounts := []specs.Mount{
		{Destination: sandbox.ContainerInitPath, Type: "bind", Source: w.s.self, Options: ro},
		{Destination: "/.retool", Type: "bind", Source: w.dir, Options: ro},
		tmpfs("/tmp", "1777", size, sandbox.WorkDirInodes),
		tmpfs("/work", "0755", size, sandbox.WorkDirInodes),
		// Tighter than the default spec's 64 MiB, and not executable.
		tmpfs("/dev/shm", "1777", 16<<20, 1024, "noexec"),
		tmpfs("/run", "0755", 1<<20, 64, "noexec"),
	}
	if w.s.hostBind {
		for _, p := range []string{"/usr", "/etc"} {
			mounts = append(mounts, specs.Mount{Destination: p, Type: "bind", Source: p, Options: ro})
		}
	}
	for _, p := range spec.ReadOnlyPaths {
		mounts = append(mounts, specs.Mount{Destination: p, Type: "bind", Source: p, Options: ro})
	}
	caps := sandbox.WorkerCapabilities()
	opts := []oci.SpecOpts{
		oci.WithImageConfig(w.s.image),
		oci.WithUserNamespace(w.idMap(), w.idMap()),
		oci.WithProcessArgs(sandbox.ContainerInitPath, "/.retool/init.sock"),
		oci.WithEnv([]string{"PATH=/usr/bin:/bin"}),
		oci.WithProcessCwd("/"),
		oci.WithRootFSReadonly(),
		replaceMounts(mounts),
		oci.WithCapabilities(caps),
		oci.WithAmbientCapabilities(nil),
		oci.WithNoNewPrivileges,
		oci.WithHostname("sandbox"),
		oci.WithCgroup(w.cgroup),
		withResources(spec.Limits),
		withSeccomp(),
		withRlimits(),
	}
	if spec.AllowNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostResolvconf, oci.WithHostHostsFile)
	}
	return opts
}

// replaceMounts adds mounts, replacing the default spec's ones at the
// same destinations, and drops its /sys: the native backend shows no
// sysfs either, and in a user namespace sysfs cannot be mounted at all
// when the worker shares the host's network namespace (allow_network).
func replaceMounts(mounts []specs.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		dest := map[string]bool{}
		for _, m := range mounts {
			dest[m.Destination] = true
		}
		kept := s.Mounts[:0]
		for _, m := range s.Mounts {
			if !dest[m.Destination] && m.Destination != "/sys" && !strings.HasPrefix(m.Destination, "/sys/") {
				kept = append(kept, m)
			}
		}
		s.Mounts = append(kept, mounts...)
		return nil
	}
}

// resources turns a worker's limits into the OCI form; swap is capped at
// the memory limit so that a bomb is killed rather than swapped.
func resources(l sandbox.Limits) *specs.LinuxResources {
	r := sandbox.OCIResources(l)
	if r.Memory != nil {
		r.Memory.Swap = r.Memory.Limit
	}
	return r
}

func withResources(l sandbox.Limits) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Resources = resources(l)
		return nil
	}
}

// withRlimits: no core dumps (they would fill the work dir) and a
// descriptor cap; executions get tighter ones from the zygote.
func withRlimits() oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
			{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 4096},
		}
		return nil
	}
}

// withSeccomp writes the native backend's deny list into the spec, so
// that the runtime (runc, runsc) enforces it from the container's first
// instruction; the init then loads the same filter again, which also
// kills calls made through another architecture's entry point.
func withSeccomp() oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		eperm, enosys := uint(syscall.EPERM), uint(syscall.ENOSYS)
		sc := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64},
			Syscalls: []specs.LinuxSyscall{
				{Names: sandbox.DeniedSyscalls(), Action: specs.ActErrno, ErrnoRet: &eperm},
				{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
			},
		}
		// One rule per flag: conditions within a rule are all required.
		for bit := uint64(1); bit != 0; bit <<= 1 {
			if sandbox.NamespaceCloneFlags&bit != 0 {
				sc.Syscalls = append(sc.Syscalls, specs.LinuxSyscall{
					Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &eperm,
					Args: []specs.LinuxSeccompArg{{Index: 0, Value: bit, ValueTwo: bit, Op: specs.OpMaskedEqual}},
				})
			}
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Seccomp = sc
		return nil
	}
}

// Each worker's user namespace maps its ids to a range of host ids of its
// own, far above real accounts and the native backend's ranges: the
// container's root is no host root, executions of two workers never
// share a host id (nor a per-user process count).
const (
	uidBase  = 1 << 25
	uidRange = 65536
	uidSlots = 256
)

func (w *worker) hostUID() int { return uidBase + int(w.seq%uidSlots)*uidRange }

func (w *worker) idMap() []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(w.hostUID()), Size: uidRange}}
}

func (w *worker) Pid() int              { return w.pid }
func (w *worker) Done() <-chan struct{} { return w.done }

func (w *worker) ExitStatus() int {
	select {
	case <-w.done:
		return w.status
	default:
		return -1
	}
}

// SetLimits implements sandbox.Worker: on the container's cgroup where
// this host shows it (what runc update itself does, without its 5 ms), else
// through the runtime.
func (w *worker) SetLimits(l sandbox.Limits) error {
	if w.cg != nil {
		if err := w.cg.Update(l); err != nil {
			return fmt.Errorf("containerd: update cgroup of %s: %w", w.id, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(w.s.c.ns(context.Background()), cleanupTimeout)
	defer cancel()
	if err := w.task.Update(ctx, containerd.WithResources(resources(l))); err != nil {
		return fmt.Errorf("containerd: update task %s: %w", w.id, err)
	}
	return nil
}

// Usage implements sandbox.Worker from the container's cgroup.
func (w *worker) Usage() (sandbox.Usage, error) {
	if w.cg == nil {
		return sandbox.Usage{}, errors.New("container cgroup not readable on this host")
	}
	return w.cg.Usage()
}

// OOMKills implements sandbox.Worker.
func (w *worker) OOMKills() (uint64, error) {
	if w.cg == nil {
		return 0, errors.New("container cgroup not readable on this host")
	}
	return w.cg.OOMKills()
}

// Close kills the task and deletes it, the container with its snapshot
// and the worker's directory. When that fails (a daemon that is down) the
// error is returned and the removal retried in the background.
func (w *worker) Close() error {
	w.once.Do(func() {
		w.err = w.remove()
		if w.err != nil {
			w.s.retries.Add(1)
			go w.retryRemove()
		}
	})
	return w.err
}

// retryRemove tries again every second while the sandbox is open, and
// once more when it closes.
func (w *worker) retryRemove() {
	defer w.s.retries.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.s.ctx.Done():
			_ = w.remove()
			return
		}
		if w.remove() == nil {
			return
		}
	}
}

func (w *worker) remove() error {
	ctx, cancel := context.WithTimeout(w.s.c.ns(context.Background()), cleanupTimeout)
	defer cancel()
	if w.cg != nil {
		w.cg.Close() // before runc removes the group
	}
	var errs []error
	if w.task != nil {
		if _, err := w.task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task: %w", err))
		}
	}
	if w.waitStop != nil {
		w.waitStop()
	}
	if w.ctr != nil {
		if err := w.ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container: %w", err))
		}
	}
	if w.dir != "" {
		if err := os.RemoveAll(w.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("containerd: remove worker %s: %w", w.id, err)
	}
	return nil
}

// sweep removes worker containers whose creating process is gone: what a
// killed plugin could not remove.
func (s *Sandbox) sweep(ctx context.Context) {
	ctx = s.c.ns(ctx)
	ctrs, err := s.c.c.Containers(ctx, "labels.\""+ownerLabel+"\"")
	if err != nil {
		return
	}
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(labels[ownerLabel])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	dirs, _ := filepath.Glob(filepath.Join(s.c.cfg.StateDir, "workers", "*"))
	for _, d := range dirs {
		if ownerGone(filepath.Base(d)) {
			_ = os.RemoveAll(d)
		}
	}
}

// ownerGone reads the pid from a worker dir's name, PID-SEQ.
func ownerGone(name string) bool {
	parts := strings.Split(name, "-")
	if len(parts) != 2 {
		return false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// dynamic reports whether the ELF binary at path asks for a loader.
func dynamic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
