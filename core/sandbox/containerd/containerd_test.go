package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/sandbox/containerd/ctrdtest"
)

// The tests run against a private containerd started by TestMain, so they
// never touch a system daemon's namespaces or socket.

const (
	testImage = "retool.local/host:test"
	python    = "/usr/bin/python3" // PATH's python3 may be a pyenv shim
)

var (
	testCfg    Config
	skipReason string // non-empty: every daemon test skips with it
	testDaemon *ctrdtest.Daemon
)

func TestMain(m *testing.M) {
	d, skip, err := ctrdtest.Start()
	if err == nil && d != nil {
		testCfg = Config{Socket: d.Socket, Namespace: d.Namespace, StateDir: d.StateDir}
		err = prepareImage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "containerd tests:", err)
		if d != nil {
			d.Stop()
		}
		os.Exit(1)
	}
	skipReason, testDaemon = skip, d
	code := m.Run()
	if d != nil {
		if err := d.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "containerd tests: stop daemon:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

func prepareImage() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Connect(ctx, testCfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.EnsureHostImage(ctx, testImage)
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
