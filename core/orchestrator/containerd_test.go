package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/core/execution"
	containerd "github.com/retool-rl/retool/core/sandbox/containerd"
	"github.com/retool-rl/retool/core/sandbox/containerd/ctrdtest"
)

// TestContainerdBackend runs the real python plugin with
// sandbox.backend = "containerd" against a private daemon: the plugin
// binary is each container's init, and its workers are containers.
func TestContainerdBackend(t *testing.T) {
	d, skip, err := ctrdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Skip(skip)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
	}()
	dir, _ := installPython(t)
	cfg := config.Default()
	cfg.Sandbox.Backend = "containerd"
	cfg.Sandbox.Containerd = config.Containerd{Socket: d.Socket, Namespace: d.Namespace, StateDir: d.StateDir}
	for i := range cfg.Runtimes {
		cfg.Runtimes[i].PoolSize = 2
	}
	o := New(cfg, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tests := []struct {
		code   string
		status execution.Status
		stdout string
	}{
		{"print(6*7)", execution.Finished, "42\n"},
		{"import os; print(open('/proc/1/cmdline').read().split(chr(0))[0])", execution.Finished, "/.retool-init\n"},
		{"import numpy; print(numpy.arange(4).sum())", execution.Finished, "6\n"},
		{"x = bytearray(2 << 30)", execution.Memory, ""},
	}
	for _, tc := range tests {
		res, err := o.Execute(ctx, &execution.Request{Language: "python", Code: tc.code,
			Limits: execution.Limits{MemoryBytes: 256 << 20}})
		if err != nil {
			t.Fatalf("%s: %v", tc.code, err)
		}
		if res.Status != tc.status || (tc.stdout != "" && string(res.Stdout) != tc.stdout) {
			t.Errorf("%s: %v %q %q %s", tc.code, res.Status, res.Stdout, res.Stderr, res.Message)
		}
	}
	o.Close()
	c, err := containerd.Connect(ctx, containerd.Config{Socket: d.Socket, Namespace: d.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := c.Leaks(ctx)
	if err != nil || !l.Zero() {
		t.Errorf("after Close: %+v %v", l, err)
	}
}
