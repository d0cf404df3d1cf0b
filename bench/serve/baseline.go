package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// baseline is what SandboxFusion does with its default configuration: a
// fresh interpreter per request in a new temp dir, output read after
// exit, capped at 1 MiB a stream. It has NO isolation at all (no
// namespaces, no cgroup, no seccomp, no memory limit), which only makes
// it faster than a real sandbox: it flatters the baseline.
type baseline struct {
	python string
	tmp    string
	sem    chan struct{} // bounds the interpreters running at once; nil: no bound
}

// sympyPrelude makes the sympy language work like retool's sympy runtime
// (factorint and friends in scope).
const sympyPrelude = "from sympy import *\n"

const baselineOutputCap = 1 << 20

// startBaseline serves the baseline on a free loopback port. procs > 0
// bounds the interpreters running at once. stop shuts it down and
// removes its temp dir.
func startBaseline(python string, procs int) (url string, stop func(), err error) {
	tmp, err := os.MkdirTemp("", "retool-bench-baseline-")
	if err != nil {
		return "", nil, fmt.Errorf("baseline temp dir: %w", err)
	}
	b := &baseline{python: python, tmp: tmp}
	if procs > 0 {
		b.sem = make(chan struct{}, procs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("baseline listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "pong") })
	mux.HandleFunc("POST /run_code", b.runCode)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed at stop
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // best effort at exit
		os.RemoveAll(tmp)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

func (b *baseline) runCode(w http.ResponseWriter, r *http.Request) {
	var req runCodeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	code := req.Code
	switch req.Language {
	case "python", "python3":
	case "sympy":
		code = sympyPrelude + code
	default:
		http.Error(w, "unsupported language: "+req.Language, http.StatusBadRequest)
		return
	}
	if !b.acquire(r.Context()) {
		return // the client hung up
	}
	defer b.release()
	resp := b.execute(r.Context(), code, req)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp) // the client may be gone
}

func (b *baseline) acquire(ctx context.Context) bool {
	if b.sem == nil {
		return true
	}
	select {
	case b.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (b *baseline) release() {
	if b.sem != nil {
		<-b.sem
	}
}

// execute writes code to a fresh dir and runs a fresh interpreter on it.
func (b *baseline) execute(ctx context.Context, code string, req runCodeRequest) runCodeResponse {
	dir, err := os.MkdirTemp(b.tmp, "run-")
	if err != nil {
		return sandboxError(fmt.Errorf("work dir: %w", err))
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte(code), 0o600); err != nil {
		return sandboxError(fmt.Errorf("write code: %w", err))
	}
	timeout := time.Duration(req.RunTimeout * float64(time.Second))
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.python, "main.py")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader([]byte(req.Stdin))
	stdout, stderr := &cappedBuffer{max: baselineOutputCap}, &cappedBuffer{max: baselineOutputCap}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	t0 := time.Now()
	err = cmd.Run()
	return commandResponse(err, ctx.Err(), time.Since(t0), stdout, stderr)
}

// commandResponse maps a finished command to SandboxFusion's answer: a
// timeout or a non-zero exit is Failed, a failure to start SandboxError.
func commandResponse(runErr, ctxErr error, took time.Duration, stdout, stderr *cappedBuffer) runCodeResponse {
	rr := &commandResult{Status: runFinished, ExecutionTime: took.Seconds(),
		Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		rr.Status = runTimeout
		return runCodeResponse{Status: statusFailed, RunResult: rr, Files: map[string]string{}}
	case runErr == nil:
		zero := 0
		rr.ReturnCode = &zero
		return runCodeResponse{Status: statusSuccess, RunResult: rr, Files: map[string]string{}}
	case errors.As(runErr, &exitErr):
		rc := exitErr.ExitCode()
		rr.ReturnCode = &rc
		return runCodeResponse{Status: statusFailed, RunResult: rr, Files: map[string]string{}}
	default:
		return sandboxError(fmt.Errorf("run: %w", runErr))
	}
}

func sandboxError(err error) runCodeResponse {
	return runCodeResponse{Status: statusSandboxError, Message: err.Error(), Files: map[string]string{}}
}

// cappedBuffer keeps the first max bytes written and drops the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
