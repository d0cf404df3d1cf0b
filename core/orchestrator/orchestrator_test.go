package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/sysmon"
	"github.com/retool-rl/retool/plugins/install"
	"github.com/retool-rl/retool/plugins/sdk"
)

// pluginBin is the python runtime plugin, built once for the package.
var pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "retool-orch-test-")
	if err != nil {
		panic(err)
	}
	pluginBin = filepath.Join(dir, "retool-runtime-python")
	out, err := exec.Command("go", "build", "-o", pluginBin, "../../runtimes/python").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newDir(t *testing.T) *install.Dir {
	t.Helper()
	return &install.Dir{Root: t.TempDir(), Probe: Prober{}, ProtocolVersion: sdk.ProtocolVersion}
}

func installPython(t *testing.T) (*install.Dir, *install.Manifest) {
	t.Helper()
	d := newDir(t)
	m, err := d.Install(context.Background(), pluginBin, install.Options{})
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if m.Name != "python" || !strings.Contains(strings.Join(m.Languages, ","), "python") {
		t.Fatalf("manifest %+v", m)
	}
	return d, m
}

func newOrchestrator(t *testing.T, d *install.Dir) *Orchestrator {
	t.Helper()
	cfg := config.Default()
	for i := range cfg.Runtimes {
		cfg.Runtimes[i].PoolSize = 2
	}
	o := New(cfg, d, nil)
	t.Cleanup(func() { o.Close() })
	return o
}

func TestExecuteRoutesByLanguage(t *testing.T) {
	d, _ := installPython(t)
	o := newOrchestrator(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := o.Execute(ctx, &execution.Request{Language: "python", Code: "print(6*7)"})
	if err != nil || res.Status != execution.Finished || string(res.Stdout) != "42\n" {
		t.Fatalf("python: %+v %v", res, err)
	}
	_, err = o.Execute(ctx, &execution.Request{Language: "cobol", Code: "DISPLAY 1"})
	if !errors.Is(err, ErrUnknownLanguage) || !strings.Contains(err.Error(), "python") {
		t.Fatalf("unknown language: %v", err)
	}
	_, err = o.Execute(ctx, &execution.Request{Language: "python", Code: "  "})
	if !errors.Is(err, execution.ErrInvalid) {
		t.Fatalf("empty code: %v", err)
	}
	_, err = o.Execute(ctx, &execution.Request{Language: "python", Code: "print('\xff')\xff"})
	if !errors.Is(err, execution.ErrInvalid) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("invalid UTF-8 code: %v", err)
	}
	// 10 MB of code crosses gRPC and the driver socket whole.
	big := "s = '" + strings.Repeat("a", 10<<20) + "'\nprint(len(s))"
	res, err = o.Execute(ctx, &execution.Request{Language: "python", Code: big})
	if err != nil || string(res.Stdout) != "10485760\n" {
		t.Fatalf("10 MB code: %s %q %v", res.Status, res.Stderr, err)
	}
	// Binary output survives the protocol byte for byte.
	res, err = o.Execute(ctx, &execution.Request{Language: "python", Code: "import sys\n_ = sys.stdout.buffer.write(bytes(range(256)))"})
	if err != nil || len(res.Stdout) != 256 || res.Stdout[255] != 255 {
		t.Fatalf("binary output: %q %v", res.Stdout, err)
	}
}

func TestTamperedBinaryRefusesToLoad(t *testing.T) {
	d, m := installPython(t)
	f, err := os.OpenFile(m.Binary, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tampered"))
	f.Close()
	o := newOrchestrator(t, d)
	_, err = o.Execute(context.Background(), &execution.Request{Language: "python", Code: "print(1)"})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("tampered binary: err = %v, want checksum mismatch", err)
	}
}

func TestNonPluginRefusedAtInstall(t *testing.T) {
	d := newDir(t)
	fake := filepath.Join(t.TempDir(), "retool-runtime-fake")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := d.Install(context.Background(), fake, install.Options{})
	if !errors.Is(err, install.ErrNotAPlugin) {
		t.Fatalf("install of a shell script: %v, want ErrNotAPlugin", err)
	}
	if ms, _ := d.List(); len(ms) != 0 {
		t.Fatalf("something was installed: %+v", ms)
	}
}

func TestPluginCrashMidExecution(t *testing.T) {
	d, _ := installPython(t)
	o := newOrchestrator(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := o.Start(ctx, "python"); err != nil {
		t.Fatal(err)
	}
	pid := o.Pid("python")
	done := make(chan execution.Result, 1)
	go func() {
		res, err := o.Execute(ctx, &execution.Request{Language: "python", Code: "import time; time.sleep(5)"})
		if err != nil {
			res = execution.Result{Message: err.Error()}
		}
		done <- res
	}()
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Status != execution.SandboxError || !strings.Contains(res.Message, "crashed") {
		t.Fatalf("execution on a crashed plugin: %+v", res)
	}
	start := time.Now()
	res, err := o.Execute(ctx, &execution.Request{Language: "python", Code: "print('back')"})
	if err != nil || string(res.Stdout) != "back\n" {
		t.Fatalf("after restart: %+v %v", res, err)
	}
	t.Logf("plugin back and answering in %s", time.Since(start))
	if o.Pid("python") == pid {
		t.Fatal("same pid after a crash")
	}
}

func TestWatchRestartsACrashedPlugin(t *testing.T) {
	d, _ := installPython(t)
	o := newOrchestrator(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := o.Start(ctx, "python"); err != nil {
		t.Fatal(err)
	}
	go o.Watch(ctx, 50*time.Millisecond)
	pid := o.Pid("python")
	syscall.Kill(pid, syscall.SIGKILL)
	start := time.Now()
	for o.Pid("python") == 0 || o.Pid("python") == pid {
		if time.Since(start) > 20*time.Second {
			t.Fatal("plugin not restarted by the watcher")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("watcher restarted the plugin in %s", time.Since(start))
	res, err := o.Execute(ctx, &execution.Request{Language: "python", Code: "print(1)"})
	if err != nil || string(res.Stdout) != "1\n" {
		t.Fatalf("after restart: %+v %v", res, err)
	}
}

func TestSessions(t *testing.T) {
	d, _ := installPython(t)
	o := newOrchestrator(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := o.OpenSession(ctx, "python", execution.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"x = 40", "x += 2"} { // in order: a map would shuffle them
		if res, err := o.ExecuteInSession(ctx, id, &execution.Request{Code: code}); err != nil || len(res.Stdout) != 0 {
			t.Fatalf("%q: %+v %v", code, res, err)
		}
	}
	res, err := o.ExecuteInSession(ctx, id, &execution.Request{Code: "x"})
	if err != nil || string(res.Stdout) != "42\n" {
		t.Fatalf("state lost: %+v %v", res, err)
	}
	if err := o.CloseSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ExecuteInSession(ctx, id, &execution.Request{Code: "x"}); !errors.Is(err, sdk.ErrUnknownSession) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := o.ExecuteInSession(ctx, "nonsense", &execution.Request{Code: "x"}); !errors.Is(err, sdk.ErrUnknownSession) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestConcurrentExecutions(t *testing.T) {
	d, _ := installPython(t)
	o := newOrchestrator(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				n := g*100 + i
				res, err := o.Execute(ctx, &execution.Request{Language: "python", Code: "n = " + strconv.Itoa(n) + "\nn * 2"})
				if err != nil {
					errs <- err
					return
				}
				if want := strconv.Itoa(2*n) + "\n"; string(res.Stdout) != want {
					errs <- errors.New("got " + string(res.Stdout) + " want " + want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A plugin starts with the scheduler setting added to the host's GODEBUG
// (see package sysmon), the host's own GODEBUG values kept.
func TestPluginGetsSchedulerSetting(t *testing.T) {
	t.Setenv("GODEBUG", "madvdontneed=1")
	d, _ := installPython(t)
	o := newOrchestrator(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := o.Execute(ctx, &execution.Request{Language: "python", Code: "pass"}); err != nil {
		t.Fatal(err)
	}
	pid := o.Pid("python")
	if pid == 0 {
		t.Fatal("no python plugin running")
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range strings.Split(string(env), "\x00") {
		if strings.HasPrefix(kv, "GODEBUG=") {
			got = append(got, kv)
		}
	}
	want := "GODEBUG=madvdontneed=1," + sysmon.Setting
	if len(got) != 1 || got[0] != want {
		t.Errorf("plugin environment has %q, want exactly %q", got, want)
	}
}
