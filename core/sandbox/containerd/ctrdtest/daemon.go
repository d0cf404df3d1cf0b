// Package ctrdtest starts a private containerd for tests: its root, state
// and socket live under a temp dir, so tests never touch a system
// daemon's namespaces or socket. The containerd backend's tests and the
// shared hostile-code suite of the pools use it.
package ctrdtest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// BinEnv names the directory holding containerd and its runc shim.
const BinEnv = "RETOOL_CONTAINERD_BIN"

const buildAdvice = "build them with: GOBIN=DIR go install github.com/containerd/containerd/v2/cmd/containerd@v2.4.2 && " +
	"GOBIN=DIR go install github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v2.4.2, then set " + BinEnv + "=DIR"

// Daemon is a containerd process with its root, state and socket in Dir.
type Daemon struct {
	// Socket, Namespace and StateDir are what a client of the daemon
	// should use.
	Socket, Namespace, StateDir string
	Dir                         string

	bin    string
	cmd    *exec.Cmd
	runDir bool // /run/containerd did not exist before; remove it if empty
}

// Start starts containerd and waits until it answers. When it cannot run
// here (no binaries, not root) it returns a nil Daemon and the reason
// tests should skip with.
func Start() (d *Daemon, skip string, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err.Error(), nil
	}
	if os.Geteuid() != 0 {
		return nil, "containerd tests need root", nil
	}
	dir, err := os.MkdirTemp("", "retool-ctrd-")
	if err != nil {
		return nil, "", err
	}
	// Containers run in user namespaces: their mapped root must be able to
	// pass through to the rootfs and the worker dirs below.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, "", errors.Join(err, os.RemoveAll(dir))
	}
	d = &Daemon{Dir: dir, bin: bin, Namespace: fmt.Sprintf("retool-ctrd-test-%d", os.Getpid()),
		Socket: filepath.Join(dir, "containerd.sock"), StateDir: filepath.Join(dir, "run")}
	if _, err := os.Stat("/run/containerd"); errors.Is(err, fs.ErrNotExist) {
		d.runDir = true
	}
	// version 4 ignores top-level [grpc]; the address must go under the
	// grpc server plugin, or the daemon takes /run/containerd's socket.
	config := fmt.Sprintf(`version = 4
root = '%[1]s/root'
state = '%[1]s/state'
imports = []
disabled_plugins = [
  'io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime',
  'io.containerd.podsandbox.controller.v1.podsandbox', 'io.containerd.sandbox.controller.v1.shim',
  'io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.snapshotter.v1.erofs', 'io.containerd.differ.v1.erofs', 'io.containerd.server.v1.grpc-tcp',
  'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing',
]
[plugins.'io.containerd.server.v1.grpc']
  address = '%[2]s'
[plugins.'io.containerd.server.v1.ttrpc']
  address = '%[2]s.ttrpc'
[plugins.'io.containerd.server.v1.debug']
  address = ''
`, dir, d.Socket)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		return nil, "", errors.Join(err, os.RemoveAll(dir))
	}
	if err := d.launch(); err != nil {
		return nil, "", errors.Join(err, os.RemoveAll(dir))
	}
	if err := d.waitReady(20 * time.Second); err != nil {
		return nil, "", errors.Join(err, d.Stop())
	}
	return d, "", nil
}

// launch starts the daemon process on the config in Dir.
func (d *Daemon) launch() error {
	logf, err := os.OpenFile(filepath.Join(d.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	d.cmd = exec.Command(filepath.Join(d.bin, "containerd"), "--config", filepath.Join(d.Dir, "config.toml"))
	// The daemon starts the shim by name, so it must be on its PATH.
	d.cmd.Env = append(os.Environ(), "PATH="+d.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return d.cmd.Start()
}

// waitReady polls until the daemon answers a version call.
func (d *Daemon) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		c, err := containerd.New(d.Socket, containerd.WithTimeout(time.Second))
		if err == nil {
			_, err = c.Version(ctx)
			c.Close()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(d.Dir, "containerd.log"))
			return fmt.Errorf("daemon not ready: %w\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the daemon abruptly (SIGKILL), as a crash would: the shims
// and their tasks keep running.
func (d *Daemon) Kill() error {
	if err := d.cmd.Process.Kill(); err != nil {
		return err
	}
	_ = d.cmd.Wait()
	return nil
}

// Restart starts the daemon again on the same root, state and socket.
func (d *Daemon) Restart() error {
	if err := d.launch(); err != nil {
		return err
	}
	return d.waitReady(20 * time.Second)
}

// findBinaries returns the directory holding containerd and its runc shim.
func findBinaries() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		for _, name := range []string{"containerd", "containerd-shim-runc-v2"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return "", fmt.Errorf("%s=%s: %v; %s", BinEnv, dir, err, buildAdvice)
			}
		}
		return dir, nil
	}
	p, err := exec.LookPath("containerd")
	if err == nil {
		_, err = exec.LookPath("containerd-shim-runc-v2")
	}
	if err != nil {
		return "", fmt.Errorf("containerd or containerd-shim-runc-v2 not found in %s or PATH; %s", BinEnv, buildAdvice)
	}
	return filepath.Dir(p), nil
}

// Stop purges the namespace, stops the daemon, unmounts what it left in
// its dir and removes the dir and the namespace's empty parent cgroups.
func (d *Daemon) Stop() error {
	var errs []error
	// A failed test may leave tasks behind; their shims and processes
	// would outlive the daemon and pin the cgroups.
	if err := d.Purge(); err != nil {
		errs = append(errs, fmt.Errorf("purge namespace: %w", err))
	}
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
	}
	if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil {
		var under []string
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], d.Dir+"/") {
				under = append(under, f[1])
			}
		}
		for i := len(under) - 1; i >= 0; i-- { // children first
			if err := syscall.Unmount(under[i], syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", under[i], err))
			}
		}
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, err)
	}
	// Per-task cgroups go with the task; the namespace's parent stays.
	cgs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", d.Namespace))
	more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/*", d.Namespace)) // e.g. cpu,cpuacct links
	for _, cg := range append(cgs, more...) {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	// The shim's sockets and state go under /run/containerd whatever the
	// config says; drop the dirs only if they are ours and empty.
	if d.runDir {
		for _, p := range []string{"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc", "/run/containerd"} {
			os.Remove(p)
		}
	}
	return errors.Join(errs...)
}

// Purge kills and deletes every task, container and lease left in the
// test namespace.
func (d *Daemon) Purge() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := containerd.New(d.Socket, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, d.Namespace)
	var errs []error
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, err)
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			errs = append(errs, err)
		}
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range ls {
		if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroup removes an empty cgroup tree, children first.
func removeCgroup(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}
