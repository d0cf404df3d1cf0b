package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Defaults used for the zero fields of Spec.
const (
	DefaultMemoryBytes = 256 << 20
	DefaultPids        = 64
	DefaultWallTime    = 30 * time.Second
)

const (
	// tmpfsSize caps each of /tmp and /work; tmpfs pages are charged to
	// the container's memory cgroup as well.
	tmpfsSize = "64m"
	// maxOutput caps each captured stream so a chatty program cannot
	// grow the caller's memory without bound; the rest is dropped.
	maxOutput = 1 << 20
	// leaseTTL lets containerd's GC reclaim a run's resources even if
	// this process dies before deleting the lease.
	leaseTTL = 10 * time.Minute
	// cleanupTimeout bounds the deletes made after the caller's context
	// may already be done.
	cleanupTimeout = 30 * time.Second
)

// Spec describes one run.
type Spec struct {
	// Image is the ref of an image prepared with EnsureHostImage.
	Image string
	// Args is the program and its arguments; use absolute paths.
	Args []string
	// Env is added to the image's environment (PATH).
	Env []string
	// Stdin is fed to the program, then closed; nil means no stdin.
	Stdin []byte
	// MemoryBytes and Pids limit the container's cgroup; zero means
	// DefaultMemoryBytes and DefaultPids.
	MemoryBytes int64
	Pids        int64
	// WallTime after which the program is killed; zero means
	// DefaultWallTime.
	WallTime time.Duration
}

// Result is the outcome of a run that got as far as starting.
type Result struct {
	Stdout, Stderr []byte
	// ExitCode is the program's exit code, or 128+signal when killed
	// (137 after an OOM kill or a timeout).
	ExitCode int
	// TimedOut is set when the program was killed for exceeding WallTime.
	TimedOut bool
	// Duration covers everything from creating the lease to removing it.
	Duration time.Duration
}

// Run runs spec.Args in a fresh container and waits for it to exit. The
// container has a read-only rootfs with the host's /usr and /etc mounted
// read-only, tmpfs /tmp and /work, no capabilities, no_new_privs, its own
// network namespace with only loopback, and memory and pids limits.
//
// Whatever happens, Run deletes the task, the container with its snapshot
// and its lease before returning; cleanup errors are joined to err.
func (c *Client) Run(ctx context.Context, spec Spec) (res Result, err error) {
	if len(spec.Args) == 0 {
		return res, errors.New("containerd: run: no program given")
	}
	if spec.MemoryBytes < 0 || spec.Pids < 0 || spec.WallTime < 0 {
		return res, errors.New("containerd: run: negative limit")
	}
	if spec.MemoryBytes == 0 {
		spec.MemoryBytes = DefaultMemoryBytes
	}
	if spec.Pids == 0 {
		spec.Pids = DefaultPids
	}
	if spec.WallTime == 0 {
		spec.WallTime = DefaultWallTime
	}

	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	ctx = c.ns(ctx)
	// Deletes must run even when ctx is cancelled, but not forever; each
	// gets its own deadline, so a long run leaves them their full time.
	cleanup := func(what string, del func(context.Context) error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := del(cctx); cerr != nil && !errdefs.IsNotFound(cerr) {
			err = errors.Join(err, fmt.Errorf("containerd: %s: %w", what, cerr))
		}
	}

	img, err := c.c.GetImage(ctx, spec.Image)
	if err != nil {
		return res, fmt.Errorf("containerd: image %s: %w", spec.Image, err)
	}

	// Own the lease rather than use client.WithLease, whose done func
	// cannot pass SynchronousDelete: with it, the snapshot is gone when
	// Run returns instead of at the next GC.
	ls := c.c.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(leaseTTL))
	if err != nil {
		return res, fmt.Errorf("containerd: create lease: %w", err)
	}
	defer cleanup("delete lease", func(ctx context.Context) error {
		return ls.Delete(ctx, lease, leases.SynchronousDelete)
	})
	ctx = leases.WithLease(ctx, lease.ID)

	id, err := newID()
	if err != nil {
		return res, fmt.Errorf("containerd: container id: %w", err)
	}
	ctr, err := c.c.NewContainer(ctx, id,
		containerd.WithSnapshotter(c.cfg.Snapshotter),
		c.runtime(),
		containerd.WithNewSnapshotView(id, img),
		containerd.WithNewSpec(c.specOpts(img, spec)...),
	)
	if err != nil {
		return res, fmt.Errorf("containerd: create container: %w", err)
	}
	defer cleanup("delete container", func(ctx context.Context) error {
		return ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	})

	stdout, stderr := &capBuffer{max: maxOutput}, &capBuffer{max: maxOutput}
	var stdin io.Reader // a nil *bytes.Reader would not be a nil io.Reader
	if spec.Stdin != nil {
		stdin = bytes.NewReader(spec.Stdin)
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(
		cio.WithStreams(stdin, stdout, stderr),
		cio.WithFIFODir(filepath.Join(c.cfg.StateDir, "fifo")),
	))
	if err != nil {
		return res, fmt.Errorf("containerd: create task: %w", err)
	}
	defer func() {
		// Delete closes the IO and waits for the copies, so the buffers
		// are complete only after it.
		cleanup("delete task", func(ctx context.Context) error {
			_, err := task.Delete(ctx, containerd.WithProcessKill)
			return err
		})
		res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	}()

	// Wait before Start, or a fast program's exit event can be missed.
	// It gets its own context so cancelling ctx does not lose the exit.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	statusC, err := task.Wait(waitCtx)
	if err != nil {
		return res, fmt.Errorf("containerd: wait task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		return res, fmt.Errorf("containerd: start task: %w", err)
	}
	if stdin != nil {
		// The shim holds its own writer on the stdin FIFO, so the program
		// sees EOF only once that is closed too. This loses nothing: the
		// FIFO stays open until cio has copied all of Stdin and closed it.
		if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
			return res, fmt.Errorf("containerd: close stdin: %w", err)
		}
	}

	timer := time.NewTimer(spec.WallTime)
	defer timer.Stop()
	var status containerd.ExitStatus
	select {
	case status = <-statusC:
	case <-timer.C:
		res.TimedOut = true
		status, err = killAndWait(context.WithoutCancel(ctx), task, statusC)
	case <-ctx.Done():
		status, err = killAndWait(context.WithoutCancel(ctx), task, statusC)
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		return res, err
	}
	code, _, err := status.Result()
	if err != nil {
		return res, fmt.Errorf("containerd: task exit status: %w", err)
	}
	res.ExitCode = int(code)
	return res, nil
}

// specOpts builds the OCI spec of a run. The default spec already gives
// new pid, ipc, uts, mount and network namespaces; runc brings up only
// "lo" in the new network namespace.
func (c *Client) specOpts(img containerd.Image, spec Spec) []oci.SpecOpts {
	ro := []string{"rbind", "ro", "nosuid", "nodev"}
	tmpfs := []string{"nosuid", "nodev", "size=" + tmpfsSize, "mode=1777"}
	return []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithEnv(spec.Env),
		oci.WithProcessArgs(spec.Args...),
		oci.WithProcessCwd("/work"),
		oci.WithRootFSReadonly(),
		oci.WithMounts([]specs.Mount{
			{Destination: "/usr", Type: "bind", Source: "/usr", Options: ro},
			{Destination: "/etc", Type: "bind", Source: "/etc", Options: ro},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: tmpfs},
			{Destination: "/work", Type: "tmpfs", Source: "tmpfs", Options: tmpfs},
		}),
		oci.WithCapabilities(nil),
		oci.WithNoNewPrivileges,
		oci.WithMemoryLimit(uint64(spec.MemoryBytes)),
		oci.WithPidsLimit(spec.Pids),
		oci.WithHostname("sandbox"),
	}
}

// killAndWait SIGKILLs the task's init, which takes its whole pid
// namespace with it, and waits for the exit status.
func killAndWait(ctx context.Context, task containerd.Task, statusC <-chan containerd.ExitStatus) (containerd.ExitStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		return containerd.ExitStatus{}, fmt.Errorf("containerd: kill task: %w", err)
	}
	select {
	case st := <-statusC:
		return st, nil
	case <-ctx.Done():
		return containerd.ExitStatus{}, fmt.Errorf("containerd: wait for killed task: %w", ctx.Err())
	}
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "run-" + hex.EncodeToString(b), nil
}

// capBuffer keeps the first max bytes written to it. It is written by
// cio's copy goroutines and read by Run, hence the lock.
type capBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	// Report everything as written so the copy keeps draining the FIFO.
	return len(p), nil
}

func (b *capBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
