package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
)

// The tests run against a private containerd started by TestMain, so they
// never touch a system daemon's namespaces or socket.

const (
	testImage   = "retool.local/host:test"
	python      = "/usr/bin/python3" // PATH's python3 may be a pyenv shim
	binEnv      = "RETOOL_CONTAINERD_BIN"
	buildAdvice = "build them with: GOBIN=DIR go install github.com/containerd/containerd/v2/cmd/containerd@v2.4.2 && " +
		"GOBIN=DIR go install github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v2.4.2, then set " + binEnv + "=DIR"
)

var (
	testCfg    Config
	skipReason string // non-empty: every daemon test skips with it
)

func TestMain(m *testing.M) {
	d, err := startDaemon()
	if err != nil {
		fmt.Fprintln(os.Stderr, "containerd tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	if d != nil {
		if err := d.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "containerd tests: stop daemon:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// daemon is a containerd process with its root, state and socket in dir.
type daemon struct {
	cmd    *exec.Cmd
	dir    string
	ns     string
	runDir bool // /run/containerd did not exist before; remove it if empty
}

// startDaemon starts containerd, or sets skipReason and returns nil when
// it cannot (no binaries, not root).
func startDaemon() (*daemon, error) {
	bin, err := findBinaries()
	if err != nil {
		skipReason = err.Error()
		return nil, nil
	}
	if os.Geteuid() != 0 {
		skipReason = "containerd tests need root"
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "retool-ctrd-")
	if err != nil {
		return nil, err
	}
	d := &daemon{dir: dir, ns: fmt.Sprintf("retool-ctrd-test-%d", os.Getpid())}
	if _, err := os.Stat("/run/containerd"); errors.Is(err, fs.ErrNotExist) {
		d.runDir = true
	}
	socket := filepath.Join(dir, "containerd.sock")
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
`, dir, socket)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	defer logf.Close()
	d.cmd = exec.Command(filepath.Join(bin, "containerd"), "--config", filepath.Join(dir, "config.toml"))
	// The daemon starts the shim by name, so it must be on its PATH.
	d.cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	testCfg = Config{Socket: socket, Namespace: d.ns, StateDir: filepath.Join(dir, "run")}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := Connect(ctx, testCfg)
		if err == nil {
			_, err = c.Version(ctx)
			if err == nil {
				err = c.EnsureHostImage(ctx, testImage)
			}
			c.Close()
			if err == nil {
				return d, nil
			}
		}
		if ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			return nil, errors.Join(fmt.Errorf("daemon not ready: %w\n%s", err, log), d.stop())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findBinaries returns the directory holding containerd and its runc shim.
func findBinaries() (string, error) {
	if dir := os.Getenv(binEnv); dir != "" {
		for _, name := range []string{"containerd", "containerd-shim-runc-v2"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return "", fmt.Errorf("%s=%s: %v; %s", binEnv, dir, err, buildAdvice)
			}
		}
		return dir, nil
	}
	p, err := exec.LookPath("containerd")
	if err == nil {
		_, err = exec.LookPath("containerd-shim-runc-v2")
	}
	if err != nil {
		return "", fmt.Errorf("containerd or containerd-shim-runc-v2 not found in %s or PATH; %s", binEnv, buildAdvice)
	}
	return filepath.Dir(p), nil
}

// stop kills the daemon, unmounts what it left in its dir and removes the
// dir and the namespace's empty parent cgroups.
func (d *daemon) stop() error {
	var errs []error
	// A failed test may leave tasks behind; their shims and processes
	// would outlive the daemon and pin the cgroups.
	if err := purge(); err != nil {
		errs = append(errs, fmt.Errorf("purge namespace: %w", err))
	}
	if d.cmd.Process != nil {
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
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], d.dir+"/") {
				under = append(under, f[1])
			}
		}
		for i := len(under) - 1; i >= 0; i-- { // children first
			if err := syscall.Unmount(under[i], syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", under[i], err))
			}
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, err)
	}
	// Per-task cgroups go with the task; the namespace's parent stays.
	cgs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", d.ns))
	more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/*", d.ns)) // e.g. cpu,cpuacct links
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

// purge kills and deletes every task, container and lease left in the
// test namespace.
func purge() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Connect(ctx, testCfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = c.ns(ctx)
	var errs []error
	ctrs, err := c.c.Containers(ctx)
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
	ls, err := c.c.LeasesService().List(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range ls {
		if err := c.c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil {
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

func newTestClient(t *testing.T) *Client {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	c, err := Connect(context.Background(), testCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func assertNoLeaks(t *testing.T, c *Client) {
	t.Helper()
	l, err := c.Leaks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !l.Zero() {
		t.Errorf("leaks after run: %+v", l)
	}
}

func TestConnectMissingSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nope.sock")
	_, err := Connect(context.Background(), Config{Socket: sock})
	want := "containerd: connect unix://" + sock + ": no such socket; is containerd running?"
	if err == nil || err.Error() != want {
		t.Fatalf("Connect error = %v, want %q", err, want)
	}
}

func TestVersion(t *testing.T) {
	c := newTestClient(t)
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Release builds say "v2.4.2", go install builds "2.4.2+unknown".
	if !strings.HasPrefix(strings.TrimPrefix(v, "v"), "2.") {
		t.Errorf("Version = %q, want 2.x", v)
	}
	t.Logf("containerd %s", v)
}

func TestEnsureHostImageTwice(t *testing.T) {
	c := newTestClient(t)
	// TestMain imported it already; a second call must be a cheap no-op.
	if err := c.EnsureHostImage(context.Background(), testImage); err != nil {
		t.Fatal(err)
	}
	assertNoLeaks(t, c)
}

func TestRun(t *testing.T) {
	c := newTestClient(t)
	py := func(code string) []string { return []string{python, "-c", code} }
	tests := []struct {
		name  string
		spec  Spec
		check func(t *testing.T, r Result)
	}{
		{
			name: "python prints 42",
			spec: Spec{Args: py("print(6*7)")},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 0, "42\n")
			},
		},
		{
			name: "stdin and env",
			spec: Spec{Args: py("import os,sys; print(sys.stdin.read().upper(), os.environ['GREETING'])"),
				Stdin: []byte("hello"), Env: []string{"GREETING=hi"}},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 0, "HELLO hi\n")
			},
		},
		{
			name: "stdin larger than a pipe buffer arrives whole",
			spec: Spec{Args: py("import sys; print(len(sys.stdin.buffer.read()))"),
				Stdin: bytes.Repeat([]byte("x"), 1<<20)},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 0, "1048576\n")
			},
		},
		{
			name: "nonzero exit and stderr",
			spec: Spec{Args: py("import sys; sys.stderr.write('oops'); sys.exit(3)")},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 3, "")
				if string(r.Stderr) != "oops" {
					t.Errorf("stderr = %q, want %q", r.Stderr, "oops")
				}
			},
		},
		{
			name: "memory bomb is OOM-killed",
			// A str is written in full, so every page is really touched.
			spec: Spec{Args: py("s = 'x' * (200 << 20); print('survived')"), MemoryBytes: 64 << 20},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 137, "")
			},
		},
		{
			name: "thread bomb stays under pids limit",
			spec: Spec{Args: py(`import threading
ev, n = threading.Event(), 0
try:
    for _ in range(40):
        threading.Thread(target=ev.wait, daemon=True).start(); n += 1
except RuntimeError:
    pass
print(n); ev.set()`), Pids: 16},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantBelow(t, r, 16)
			},
		},
		{
			name: "fork bomb stays under pids limit",
			spec: Spec{Args: py(`import os, time
n = 0
for _ in range(40):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30); os._exit(0)
    n += 1
print(n)`), Pids: 16},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantBelow(t, r, 16)
			},
		},
		{
			name: "no network",
			spec: Spec{Args: py(`import socket
s = socket.socket(); s.settimeout(2)
try:
    s.connect(('1.1.1.1', 53)); print('connected')
except OSError as e:
    print('blocked')
print(sorted(n for _, n in socket.if_nameindex()))`)},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 0, "blocked\n['lo']\n")
			},
		},
		{
			name: "read-only root and usr, writable work",
			spec: Spec{Args: py(`import errno
for p in ('/x', '/usr/x', '/etc/x', '/work/x', '/tmp/x'):
    try:
        open(p, 'w').close(); print(p, 'ok')
    except OSError as e:
        print(p, errno.errorcode[e.errno])`)},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 0, "/x EROFS\n/usr/x EROFS\n/etc/x EROFS\n/work/x ok\n/tmp/x ok\n")
			},
		},
		{
			name: "no capabilities",
			spec: Spec{Args: py(`for l in open('/proc/self/status'):
    if l.startswith(('CapEff', 'CapBnd', 'NoNewPrivs')): print(l.split()[1])`)},
			check: func(t *testing.T, r Result) {
				t.Helper()
				wantRun(t, r, 0, "0000000000000000\n0000000000000000\n1\n")
			},
		},
		{
			name: "infinite loop times out",
			spec: Spec{Args: py("while True: pass"), WallTime: time.Second},
			check: func(t *testing.T, r Result) {
				t.Helper()
				if !r.TimedOut || r.ExitCode != 137 {
					t.Errorf("TimedOut = %v, ExitCode = %d; want true, 137", r.TimedOut, r.ExitCode)
				}
				if r.Duration < time.Second || r.Duration > 5*time.Second {
					t.Errorf("Duration = %v, want just over 1s", r.Duration)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Image = testImage
			r, err := c.Run(context.Background(), tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("exit %d in %v, stdout %q", r.ExitCode, r.Duration.Round(time.Millisecond), r.Stdout)
			tt.check(t, r)
			assertNoLeaks(t, c)
		})
	}
}

func TestRunCancelled(t *testing.T) {
	c := newTestClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, Spec{Image: testImage, Args: []string{python, "-c", "while True: pass"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run error = %v, want context.DeadlineExceeded", err)
	}
	assertNoLeaks(t, c)
}

func TestRunMissingImage(t *testing.T) {
	c := newTestClient(t)
	_, err := c.Run(context.Background(), Spec{Image: "retool.local/absent:1", Args: []string{python}})
	if err == nil || !strings.Contains(err.Error(), "containerd: image retool.local/absent:1") {
		t.Errorf("Run error = %v, want a missing-image error", err)
	}
	assertNoLeaks(t, c)
}

func wantRun(t *testing.T, r Result, code int, stdout string) {
	t.Helper()
	if r.ExitCode != code || string(r.Stdout) != stdout {
		t.Errorf("exit %d stdout %q, want exit %d stdout %q (stderr %q)", r.ExitCode, r.Stdout, code, stdout, r.Stderr)
	}
	if r.TimedOut {
		t.Error("TimedOut set")
	}
}

// wantBelow checks that the program ran and printed a count below limit.
func wantBelow(t *testing.T, r Result, limit int) {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(string(r.Stdout)))
	if r.ExitCode != 0 || err != nil {
		t.Fatalf("exit %d stdout %q stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	if n >= limit || n < 1 {
		t.Errorf("started %d, want 1..%d", n, limit-1)
	}
}
