package pool

import (
	"context"
	"os"
	"testing"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/sandbox"
)

func TestSmoke(t *testing.T) {
	src, err := os.ReadFile("../../runtimes/python/driver/zygote.py")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), Config{Name: "python", Size: 1, Sandbox: sandbox.NewNative(true),
		Driver: Driver{Path: "/usr/bin/python3", Args: []string{"python3", "-I", "/.retool/zygote.py"}, Files: map[string][]byte{"zygote.py": src}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, code := range []string{"print(6*7)", "import os; print(os.getuid(), os.getcwd()); 1+1", "1/0", "import socket; socket.create_connection(('1.1.1.1',80),timeout=1)", "while True: pass"} {
		res, err := p.Execute(context.Background(), &execution.Request{Code: code, Limits: execution.Limits{WallTime: 2e9}})
		t.Logf("%q -> %v err=%v out=%q errout=%q msg=%s wall=%v cpu=%v mem=%d", code, res.Status, err, res.Stdout, res.Stderr, res.Message, res.WallTime, res.CPUTime, res.PeakMemory)
	}
}
