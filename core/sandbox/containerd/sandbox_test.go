package containerd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/pool"
)

func newTestSandbox(t *testing.T, image string) *Sandbox {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	s, err := NewSandbox(context.Background(), SandboxConfig{Config: testCfg, Image: image})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		assertNoLeaks(t, s.Client())
		s.Close()
	})
	return s
}

func pythonPool(t *testing.T, s *Sandbox, size int) *pool.Pool {
	t.Helper()
	src, err := os.ReadFile("../../../runtimes/python/driver/zygote.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := pool.New(ctx, pool.Config{Name: "ctr-" + strings.ToLower(t.Name()), Size: size, Sandbox: s,
		Driver: pool.Driver{Path: python, Args: []string{"python3", "-I", "/.retool/zygote.py"},
			Files: map[string][]byte{"zygote.py": src}, StartTimeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSandboxPool(t *testing.T) {
	s := newTestSandbox(t, "")
	p := pythonPool(t, s, 2)
	small := execution.Limits{WallTime: 3 * time.Second, MemoryBytes: 128 << 20, Pids: 32, OutputBytes: 1 << 16}
	tests := []struct {
		name   string
		code   string
		status execution.Status
		stdout string
	}{
		{"print", "print(1+1)", execution.Finished, "2\n"},
		{"uid", "import os; print(os.getuid())", execution.Finished, "1000\n"},
		{"pid namespace", "import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[0])", execution.Finished, "1\n"},
		{"memory bomb", "x = bytearray(1 << 30); print('survived')", execution.Memory, ""},
		{"timeout", "while True: pass", execution.Timeout, ""},
		{"read-only root", "open('/x', 'w')", execution.Failed, ""},
		{"after all that", "print(6*7)", execution.Finished, "42\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.Execute(context.Background(), &execution.Request{Code: tc.code, Limits: small})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || (tc.stdout != "" && string(res.Stdout) != tc.stdout) {
				t.Errorf("status %v stdout %q stderr %q msg %q; want %v %q", res.Status, res.Stdout, res.Stderr, res.Message, tc.status, tc.stdout)
			}
		})
	}
}
