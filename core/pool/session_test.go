package pool

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
)

func TestSessionKeepsGlobals(t *testing.T) {
	p := newPythonPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := p.OpenSession(ctx, execution.Limits{WallTime: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ code, want string }{
		{"x = 41", ""},
		{"x += 1\nx", "42\n"},
		{"def f(n): return n * x\nf(2)", "84\n"},
		{"import os; os.getuid()", "1000\n"},
	}
	for _, st := range steps {
		res, err := s.Execute(ctx, &execution.Request{Code: st.code})
		if err != nil {
			t.Fatalf("%q: %v", st.code, err)
		}
		if res.Status != execution.Finished || string(res.Stdout) != st.want {
			t.Fatalf("%q: status %s stdout %q stderr %q, want %q", st.code, res.Status, res.Stdout, res.Stderr, st.want)
		}
	}
	// Fresh executions on the pool never see the session's globals.
	res, err := p.Execute(ctx, &execution.Request{Code: "print('x' in globals())"})
	if err != nil || string(res.Stdout) != "False\n" {
		t.Fatalf("pool execution saw session state: %q %v", res.Stdout, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Execute(ctx, &execution.Request{Code: "x"}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("execute after close: %v, want ErrSessionClosed", err)
	}
}

func TestSessionTimeoutEndsSession(t *testing.T) {
	p := newPythonPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := p.OpenSession(ctx, execution.Limits{WallTime: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Execute(ctx, &execution.Request{Code: "print('before', flush=True)\nwhile True: pass"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != execution.Timeout || !strings.Contains(string(res.Stdout), "before") {
		t.Fatalf("status %s stdout %q, want timeout with partial output", res.Status, res.Stdout)
	}
	if _, err := s.Execute(ctx, &execution.Request{Code: "1"}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("after timeout: %v, want ErrSessionClosed", err)
	}
	// The pool replaced the worker the session took.
	res, err = p.Execute(ctx, &execution.Request{Code: "print(6*7)"})
	if err != nil || string(res.Stdout) != "42\n" {
		t.Fatalf("pool after session: %q %v", res.Stdout, err)
	}
}
