package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
