package pool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/sandbox"
	"github.com/retool-rl/retool/core/sandbox/containerd"
	"github.com/retool-rl/retool/core/sandbox/containerd/ctrdtest"
)

// backendEnv selects the sandbox backend the hostile suite runs against:
// "native" (the default) or "containerd" (a private daemon is started).
// The suite is the same for both; make test runs it once per backend.
const backendEnv = "RETOOL_TEST_SANDBOX"

// testBackend is what TestMain set up for the selected backend.
var testBackend struct {
	name   string
	daemon *ctrdtest.Daemon
	ctrd   *containerd.Sandbox
	skip   string
}

// setupBackend starts what the selected backend needs; teardown undoes it.
func setupBackend() error {
	testBackend.name = os.Getenv(backendEnv)
	switch testBackend.name {
	case "", "native":
		testBackend.name = "native"
		return nil
	case "containerd":
	default:
		return fmt.Errorf("%s=%q: want native or containerd", backendEnv, testBackend.name)
	}
	d, skip, err := ctrdtest.Start()
	if err != nil || d == nil {
		testBackend.skip = skip
		return err
	}
	testBackend.daemon = d
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testBackend.ctrd, err = containerd.NewSandbox(ctx, containerd.SandboxConfig{
		Config: containerd.Config{Socket: d.Socket, Namespace: d.Namespace, StateDir: d.StateDir}})
	return err
}

func teardownBackend() error {
	if testBackend.ctrd != nil {
		testBackend.ctrd.Close()
	}
	if testBackend.daemon != nil {
		return testBackend.daemon.Stop()
	}
	return nil
}

// newTestSandbox returns the selected backend, or skips.
func newTestSandbox(t *testing.T) sandbox.Sandbox {
	t.Helper()
	if testBackend.name == "containerd" {
		if testBackend.ctrd == nil {
			t.Skip(testBackend.skip)
		}
		return testBackend.ctrd
	}
	return sandbox.NewNative(true)
}

// ownsProc reports whether host process p belongs to a worker of the
// pool named name. Native workers run as mapped uids in user namespaces
// of their own, children of this process; containerd workers are
// children of shims, found by their cgroup (it holds the pool's name).
func ownsProc(p hostProc, name string, userNS map[string]bool) bool {
	if !strings.Contains(p.cgroup, name) && !userNS[p.userNS] {
		return false
	}
	if testBackend.name == "containerd" {
		return strings.Contains(p.cgroup, name)
	}
	return p.uid >= sandboxUIDBase
}

// backendLeftovers lists what the containerd backend left behind of the
// pool named name ("": of every pool): containers, tasks, snapshots,
// leases, worker dirs.
func backendLeftovers(name string) []string {
	if testBackend.ctrd == nil {
		return nil
	}
	var out []string
	l, err := testBackend.ctrd.Client().LeaksOf(context.Background(), name)
	if err != nil {
		out = append(out, "containerd leak check: "+err.Error())
	} else if !l.Zero() {
		out = append(out, fmt.Sprintf("containerd: %+v", l))
	}
	if m, _ := filepath.Glob(filepath.Join(testBackend.daemon.StateDir, "workers", "*")); len(m) > 0 && name == "" {
		out = append(out, fmt.Sprintf("containerd worker dirs %v", m))
	}
	return out
}
