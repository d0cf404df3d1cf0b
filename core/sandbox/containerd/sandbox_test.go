package containerd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/pool"
	"github.com/retool-rl/retool/core/sandbox"
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
	if d := s.Degraded(); len(d) > 0 {
		t.Errorf("degraded on a host whose container cgroups are readable: %v", d)
	}
	t.Run("own host ids", func(t *testing.T) {
		// The container's root and the execution user are ids of the
		// worker's own range on the host, not host root or uid 1000.
		res, err := p.Execute(context.Background(), &execution.Request{Code: "print(open('/proc/self/uid_map').read())", Limits: small})
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(res.Stdout))
		if len(f) != 3 || f[0] != "0" || f[2] != strconv.Itoa(uidRange) {
			t.Fatalf("uid_map %q", res.Stdout)
		}
		host, _ := strconv.Atoi(f[1])
		if host < uidBase || host >= uidBase+uidSlots*uidRange || (host-uidBase)%uidRange != 0 {
			t.Errorf("container root is host uid %d, want a range start in [%d, %d)", host, uidBase, uidBase+uidSlots*uidRange)
		}
	})
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

// importBareImage imports an image of mount points only: no interpreter,
// no C library.
func importBareImage(t *testing.T, ref string) {
	t.Helper()
	c := newTestClient(t)
	layout, err := HostImageArchive(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Import(context.Background(), ref, layout); err != nil {
		t.Fatal(err)
	}
}

// staticInit builds testdata/init without cgo.
func staticInit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "init")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build static init: %v\n%s", err, out)
	}
	return bin
}

func TestSandboxBadImages(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	importBareImage(t, "retool.local/bare:test")
	static := staticInit(t)
	self, _ := os.Executable()
	tests := []struct {
		name       string
		image      string
		init       string
		newErr     string   // NewSandbox's error, when it must fail
		startParts []string // what the pool's start error must say
	}{
		{name: "missing image", image: "retool.local/missing:test",
			newErr: "containerd: image retool.local/missing:test is not in namespace " + testCfg.Namespace + " and pulling it failed"},
		{name: "image without the interpreter", image: "retool.local/bare:test", init: static,
			startParts: []string{"start /usr/bin/python3", "no such file or directory"}},
		{name: "dynamic init in an image without libc", image: "retool.local/bare:test", init: self,
			startParts: []string{"container init exited", "is dynamically linked", "CGO_ENABLED=0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := NewSandbox(ctx, SandboxConfig{Config: testCfg, Image: tc.image, Init: tc.init})
			if tc.newErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.newErr) {
					t.Fatalf("NewSandbox error = %v, want prefix %q", err, tc.newErr)
				}
				t.Logf("%v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = pool.New(ctx, pool.Config{Name: "bad", Size: 1, Sandbox: s,
				Driver: pool.Driver{Path: python, Args: []string{"python3"}, StartTimeout: 20 * time.Second}})
			if err == nil {
				t.Fatal("pool started on an image without python")
			}
			for _, part := range tc.startParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
			t.Logf("%v", err)
			assertNoLeaks(t, s.Client())
		})
	}
}

// TestSandboxDaemonRestart kills containerd under a running pool: the
// warm worker goes on (its shim keeps the container running, and limits
// are set on its cgroup, not through containerd); a worker that dies
// during the outage cannot be replaced, which each request learns at once
// with a clear error; once the daemon is back the worker is recreated, and
// nothing is left behind.
func TestSandboxDaemonRestart(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	s, err := NewSandbox(context.Background(), SandboxConfig{Config: testCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // last: after the pool, with the daemon back
	p := pythonPool(t, s, 1)
	defer p.Close()
	lim := func(mb int64) execution.Limits {
		return execution.Limits{WallTime: 5 * time.Second, MemoryBytes: mb << 20, Pids: 32}
	}
	run := func(code string, l execution.Limits) (execution.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return p.Execute(ctx, &execution.Request{Code: code, Limits: l})
	}
	if res, err := run("print(1)", lim(128)); err != nil || res.Status != execution.Finished {
		t.Fatalf("before: %v %v %s", err, res.Status, res.Message)
	}
	init := initPid(t, "ctr-testsandboxdaemonrestart")
	if err := testDaemon.Kill(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			testDaemon.Restart()
		}
	}()
	if res, err := run("print(2)", lim(200)); err != nil || res.Status != execution.Finished || string(res.Stdout) != "2\n" {
		t.Errorf("daemon down, new limits: %v %v %q %s", err, res.Status, res.Stdout, res.Message)
	}
	// The worker crashes while containerd is down. The kernel takes the
	// zygote down with its init, asynchronously: wait until the shim has
	// reaped the init, so that no execution can still reach the zygote.
	if err := syscall.Kill(init, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); syscall.Kill(init, 0) != syscall.ESRCH; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("container init %d still there 10s after SIGKILL", init)
		}
	}
	var lastErr error
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		start := time.Now()
		res, err := run("print(3)", lim(200))
		if err == nil && res.Status == execution.Finished {
			t.Fatal("an execution succeeded with the only worker dead and containerd down")
		}
		if err != nil {
			lastErr = err
			if took := time.Since(start); took > time.Second {
				t.Errorf("the error took %v", took)
			}
			break
		}
	}
	t.Logf("worker dead, daemon down: %v", lastErr)
	if lastErr == nil || !strings.Contains(lastErr.Error(), "no ctr-testsandboxdaemonrestart worker is running") ||
		!strings.Contains(lastErr.Error(), "connection refused") {
		t.Errorf("worker dead, daemon down: error %v", lastErr)
	}
	if err := testDaemon.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	for {
		res, err := run("print(5)", lim(200))
		if err == nil && res.Status == execution.Finished {
			break
		}
		if time.Since(back) > 30*time.Second {
			t.Fatalf("pool not back 30s after the restart: %v %v %q", err, res.Status, res.Message)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("worker back %v after the daemon", time.Since(back).Round(time.Millisecond))
	for i := range 4 {
		if res, err := run("print(6)", lim(128+int64(i))); err != nil || res.Status != execution.Finished {
			t.Errorf("after the restart: %v %v %q", err, res.Status, res.Message)
		}
	}
	p.Close()
	// The worker that died while the daemon was down is removed by retries.
	var l Leaks
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if l, err = s.Client().Leaks(context.Background()); err == nil && l.Zero() {
			return
		}
	}
	t.Errorf("left behind after the restart: %+v %v", l, err)
}

// initPid finds the host pid of the container init of a worker whose
// cgroup names pool.
func initPid(t *testing.T, pool string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if strings.HasPrefix(string(cmd), sandbox.ContainerInitPath+"\x00") && strings.Contains(string(cg), pool) {
			return pid
		}
	}
	t.Fatalf("no container init of %s", pool)
	return 0
}

// pythonRootfs copies the host's python3, its libraries and the part of
// its standard library the zygote needs into a fresh directory: a rootfs
// that holds its own interpreter, with nothing of the host bound in.
func pythonRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	binaries := []string{python}
	skip := map[string]bool{"dist-packages": true, "test": true, "__pycache__": true, "idlelib": true,
		"tkinter": true, "ensurepip": true, "lib2to3": true, "pydoc_data": true, "unittest": true,
		"distutils": true, "turtledemo": true, "asyncio": true, "sqlite3": true, "venv": true}
	lib := "/usr/lib/python3.11"
	err := filepath.WalkDir(lib, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && skip[d.Name()] || strings.HasPrefix(d.Name(), "config-") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			copyFile(t, path, filepath.Join(root, path))
			if strings.HasSuffix(path, ".so") {
				binaries = append(binaries, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The interpreter and its extension modules' libraries, by ldd.
	out, err := exec.Command("ldd", binaries...).Output()
	if err != nil {
		t.Fatalf("ldd: %v", err)
	}
	libs := map[string]bool{python: true}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") && !strings.HasSuffix(f, ":") {
			libs[f] = true
		}
	}
	for f := range libs {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			t.Fatal(err)
		}
		copyFile(t, real, filepath.Join(root, f))
	}
	return root
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(src)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxOwnImage runs the pool on an image built here from a rootfs
// directory (RootfsImageArchive): its interpreter is the image's own, and
// none of the host's directories are bound in.
func TestSandboxOwnImage(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	const ref = "retool.local/python-rootfs:test"
	archive, err := RootfsImageArchive(ref, pythonRootfs(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("OCI archive: %d MB", len(archive)>>20)
	c := newTestClient(t)
	if err := c.Import(context.Background(), ref, archive); err != nil {
		t.Fatal(err)
	}
	s, err := NewSandbox(context.Background(), SandboxConfig{Config: testCfg, Image: ref, Init: staticInit(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		assertNoLeaks(t, s.Client())
		s.Close()
	}()
	p := pythonPool(t, s, 1)
	code := "import os, sys; print(6*7, os.path.exists('/usr/bin/apt'), sys.version_info[:2] >= (3, 0))"
	res, err := p.Execute(context.Background(), &execution.Request{Code: code})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != execution.Finished || string(res.Stdout) != "42 False True\n" {
		t.Errorf("%v %q %q %s", res.Status, res.Stdout, res.Stderr, res.Message)
	}
	p.Close()
}

// TestSandboxSweepsDeadOwners: a worker whose creating process died (a
// plugin killed with SIGKILL cannot remove its containers) is removed by
// the next NewSandbox.
func TestSandboxSweepsDeadOwners(t *testing.T) {
	s := newTestSandbox(t, "")
	ctx := context.Background()
	w, err := s.Start(ctx, sandbox.Spec{Name: "orphan", Path: "/usr/bin/sleep", Args: []string{"sleep", "600"}, UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	ctr, err := s.c.c.LoadContainer(s.c.ns(ctx), w.(*worker).id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.SetLabels(s.c.ns(ctx), map[string]string{ownerLabel: strconv.Itoa(gone.Process.Pid)}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Client().Leaks(ctx); l.Containers != 1 || l.Tasks != 1 {
		t.Fatalf("before the sweep: %+v", l)
	}
	s2, err := NewSandbox(ctx, SandboxConfig{Config: testCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if l, err := s.Client().Leaks(ctx); err != nil || !l.Zero() {
		t.Errorf("after the sweep: %+v %v", l, err)
	}
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Error("the swept worker's task did not end")
	}
}

// TestSandboxAllowNetwork: with allow_network the worker shares the
// host's network namespace (a host listener on loopback answers it),
// still inside its user namespace; read_only_paths show host directories
// read-only.
func TestSandboxAllowNetwork(t *testing.T) {
	s := newTestSandbox(t, "")
	// Not below /tmp: the sandbox replaces /tmp with its own (refused below).
	shared, err := os.MkdirTemp("/var/tmp", "retool-ro-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shared)
	if err := os.Chmod(shared, 0o755); err != nil { // the container's mapped root must pass
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "data.txt"), []byte("shared"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.Start(context.Background(), sandbox.Spec{Name: "ro", Path: "/usr/bin/true", ReadOnlyPaths: []string{"/tmp/shared"}})
	if err == nil || !strings.Contains(err.Error(), `read-only path "/tmp/shared" is at or below /tmp`) {
		t.Errorf("a read-only path below /tmp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host"))
			c.Close()
		}
	}()
	src, err := os.ReadFile("../../../runtimes/python/driver/zygote.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := pool.New(ctx, pool.Config{Name: "ctr-net", Size: 1, Sandbox: s, AllowNetwork: true,
		Driver: pool.Driver{Path: python, Args: []string{"python3", "-I", "/.retool/zygote.py"},
			Files: map[string][]byte{"zygote.py": src}, StartTimeout: 30 * time.Second,
			ReadOnlyPaths: []string{shared}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ro := fmt.Sprintf("print(open(%q).read())\nopen(%q, 'w')", filepath.Join(shared, "data.txt"), filepath.Join(shared, "new.txt"))
	res, err := p.Execute(ctx, &execution.Request{Code: ro})
	if err != nil || res.Status != execution.Failed || string(res.Stdout) != "shared\n" ||
		!strings.Contains(string(res.Stderr), "Read-only file system") {
		t.Errorf("read_only_paths: %v %v %q %q", err, res.Status, res.Stdout, res.Stderr)
	}
	code := fmt.Sprintf("import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=5)\nprint(s.recv(4).decode())",
		ln.Addr().(*net.TCPAddr).Port)
	res, err = p.Execute(ctx, &execution.Request{Code: code})
	if err != nil || res.Status != execution.Finished || string(res.Stdout) != "host\n" {
		t.Errorf("%v %v %q %q %s", err, res.Status, res.Stdout, res.Stderr, res.Message)
	}
}
