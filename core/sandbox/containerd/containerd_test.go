package containerd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/sandbox/containerd/ctrdtest"
	"github.com/retool-rl/retool/core/sandbox/fence"
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
	// Containers run hostile code here too (memory bombs, spinning loops):
	// the fence bounds their parent group for the run.
	f := fence.Setup()
	fmt.Fprintf(os.Stderr, "fence: %s\n", f.Notes())
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
		f.Teardown()
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
	f.Teardown()
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

// TestConnectErrors: each way of not reaching containerd is one line
// that says what to do.
func TestConnectErrors(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // another user runs a helper from here
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	refused := filepath.Join(dir, "refused.sock")
	ln, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nothing listens
	denied := filepath.Join(dir, "denied.sock")
	ln2, err := net.Listen("unix", denied)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if err := os.Chmod(denied, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.sock")
	tests := []struct {
		name, socket, want string
		asNobody           bool
	}{
		{"missing", missing, "containerd: connect unix://" + missing + ": no such socket; is containerd running?", false},
		{"refused", refused, "containerd: connect unix://" + refused + ": connection refused; is containerd running?", false},
		{"relative", "run/containerd.sock", `containerd: socket path "run/containerd.sock" is not absolute`, false},
		{"no permission", denied, "containerd: connect unix://" + denied + ": permission denied; run as root or as a member of the socket's group", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if tt.asNobody {
				if os.Geteuid() != 0 {
					t.Skip("needs root to run the check as another user")
				}
				// The test binary's own dir is private to root: run a copy.
				self, err := os.ReadFile(os.Args[0])
				if err != nil {
					t.Fatal(err)
				}
				bin := filepath.Join(dir, "helper.test")
				if err := os.WriteFile(bin, self, 0o755); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(bin, "-test.run=^TestHelperConnect$")
				cmd.Env = append(os.Environ(), "RETOOL_TEST_CONNECT="+tt.socket)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
				out, _ := cmd.CombinedOutput()
				for _, line := range strings.Split(string(out), "\n") {
					if s, ok := strings.CutPrefix(line, "connect error: "); ok {
						got = s
					}
				}
				if got == "" {
					t.Fatalf("helper printed no error:\n%s", out)
				}
			} else if _, err := Connect(context.Background(), Config{Socket: tt.socket}); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHelperConnect runs as another user for TestConnectErrors.
func TestHelperConnect(t *testing.T) {
	sock := os.Getenv("RETOOL_TEST_CONNECT")
	if sock == "" {
		t.Skip("helper of TestConnectErrors")
	}
	_, err := Connect(context.Background(), Config{Socket: sock})
	fmt.Printf("connect error: %v\n", err)
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
