package host

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var wantCheckNames = []string{
	"kernel", "root",
	"user namespaces", "pid namespaces", "net namespaces", "mount namespaces", "ipc namespaces", "uts namespaces",
	"cgroups", "cgroup memory", "cgroup pids", "cgroup cpu",
	"seccomp", "no_new_privs",
	"python3", "sympy", "numpy", "julia", "node",
	"containerd", "runc", "runsc",
}

func names(r Report) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name)
	}
	return out
}

func mustGet(t *testing.T, r Report, name string) Check {
	t.Helper()
	c, ok := r.Get(name)
	if !ok {
		t.Fatalf("no %q check in %v", name, names(r))
	}
	return c
}

func TestProbeThisHost(t *testing.T) {
	r := Probe(context.Background(), Options{})
	if got := names(r); !slices.Equal(got, wantCheckNames) {
		t.Errorf("check names\n got %v\nwant %v", got, wantCheckNames)
	}
	for _, c := range r.Checks {
		if c.Detail == "" {
			t.Errorf("%s: empty Detail", c.Name)
		}
		if strings.ContainsAny(c.Detail, "\n\t") {
			t.Errorf("%s: Detail not one line: %q", c.Name, c.Detail)
		}
		if c.OK && c.Fallback != "" {
			t.Errorf("%s: OK but Fallback %q", c.Name, c.Fallback)
		}
	}
	fallbacks := map[string]string{
		"cgroup memory": "RLIMIT_AS replaces the memory cgroup",
		"cgroup pids":   "RLIMIT_NPROC replaces the pids cgroup",
		"cgroup cpu":    "RLIMIT_CPU only; no CPU share limit",
	}
	for name, want := range fallbacks {
		if c := mustGet(t, r, name); !c.OK && c.Fallback != want {
			t.Errorf("%s: Fallback %q, want %q", name, c.Fallback, want)
		}
	}
	for _, name := range []string{"python3", "sympy", "numpy"} {
		if c := mustGet(t, r, name); !strings.Contains(c.Detail, DefaultPython) {
			t.Errorf("%s: Detail %q does not name %s", name, c.Detail, DefaultPython)
		}
	}
	version, _, err := Cgroups()
	if err != nil {
		t.Fatal(err)
	}
	if c := mustGet(t, r, "cgroups"); !strings.HasPrefix(c.Detail, version) || c.OK != (version != "none") {
		t.Errorf("cgroups check %+v disagrees with Cgroups() = %q", c, version)
	}
	assertNoTestCgroups(t)

	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
}

// assertNoTestCgroups fails if Probe left a retool-doctor-* cgroup behind.
func assertNoTestCgroups(t *testing.T) {
	t.Helper()
	l, err := readCgroupLayout()
	if err != nil {
		t.Fatal(err)
	}
	roots := []string{}
	for _, m := range l.V1 {
		roots = append(roots, m)
	}
	if l.Unified != "" {
		roots = append(roots, l.Unified)
	}
	for _, root := range roots {
		left, _ := filepath.Glob(filepath.Join(root, "retool-doctor-*"))
		if len(left) > 0 {
			t.Errorf("test cgroups left behind: %v", left)
		}
	}
}

func TestProbeBogusInterpreters(t *testing.T) {
	const py = "/nonexistent/bin/python3"
	const jl = "/nonexistent/bin/julia"
	r := Probe(context.Background(), Options{Python: py, Julia: jl, ContainerdSocket: "/nonexistent/containerd.sock"})
	tests := []struct {
		name   string
		substr []string
	}{
		{"python3", []string{py, "not found"}},
		{"sympy", []string{py, "unavailable"}},
		{"numpy", []string{py, "unavailable"}},
		{"julia", []string{jl, "not found"}},
		{"containerd", []string{"/nonexistent/containerd.sock", "not found"}},
	}
	for _, tt := range tests {
		c := mustGet(t, r, tt.name)
		if c.OK {
			t.Errorf("%s: OK with bogus path: %q", tt.name, c.Detail)
		}
		for _, s := range tt.substr {
			if !strings.Contains(c.Detail, s) {
				t.Errorf("%s: Detail %q lacks %q", tt.name, c.Detail, s)
			}
		}
	}
}

func TestProbeCancelledContextDoesNotHang(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	r := Probe(ctx, Options{})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Probe with cancelled ctx took %s", d)
	}
	if c := mustGet(t, r, "python3"); c.OK {
		t.Errorf("python3 OK with cancelled context: %q", c.Detail)
	}
	for _, c := range r.Checks {
		if c.Detail == "" {
			t.Errorf("%s: empty Detail", c.Name)
		}
	}
	assertNoTestCgroups(t)
}

func TestProbeContainerdSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "c.sock")
	ln, err := net.Listen("unix", sock)
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
			c.Close()
		}
	}()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		socket string
		ok     bool
		substr string
	}{
		{sock, false, "does not answer as containerd"}, // a listener that is not containerd
		{plain, false, "not a socket"},
		{filepath.Join(dir, "absent.sock"), false, "not found"},
	}
	for _, tt := range tests {
		cs := probeContainerd(context.Background(), tt.socket)
		c := cs[0]
		if c.Name != "containerd" || c.OK != tt.ok || !strings.Contains(c.Detail, tt.substr) {
			t.Errorf("socket %s: got %+v, want OK=%v with %q", tt.socket, c, tt.ok, tt.substr)
		}
		if !c.OK && c.Fallback == "" {
			t.Errorf("socket %s: no fallback", tt.socket)
		}
	}
}

func TestProbeContainerdRuntimes(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"containerd-shim-runc-v2": 0o755, "containerd-shim-runsc-v1": 0o755,
		"containerd-shim-notexec-v2": 0o644, "containerd-shim-": 0o755,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	c := probeContainerd(context.Background(), filepath.Join(dir, "absent.sock"))[0]
	if want := "runtimes (shims on PATH): io.containerd.runc.v2, io.containerd.runsc.v1"; !strings.Contains(c.Detail, want) {
		t.Errorf("detail %q lacks %q", c.Detail, want)
	}
	t.Setenv("PATH", t.TempDir())
	c = probeContainerd(context.Background(), filepath.Join(dir, "absent.sock"))[0]
	if !strings.Contains(c.Detail, "no containerd-shim-* on PATH") {
		t.Errorf("detail %q", c.Detail)
	}
}

func TestReportWriteAligned(t *testing.T) {
	r := Report{Checks: []Check{
		{Name: "kernel", OK: true, Detail: "Linux 6.1"},
		{Name: "cgroup memory", Detail: "mkdir: permission denied", Fallback: "RLIMIT_AS replaces the memory cgroup"},
		{Name: "x", OK: true, Detail: "two\nlines"},
	}}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 1+len(r.Checks) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), 1+len(r.Checks), buf.String())
	}
	wantPrefix := []string{"STATUS", "ok", "MISSING", "ok"}
	nameCol := strings.Index(lines[0], "CHECK")
	detailCol := strings.Index(lines[0], "DETAIL")
	for i, l := range lines {
		if !strings.HasPrefix(l, wantPrefix[i]+" ") {
			t.Errorf("line %d %q: want prefix %q", i, l, wantPrefix[i])
		}
		if i > 0 {
			c := r.Checks[i-1]
			if got := strings.Index(l, c.Name); got != nameCol {
				t.Errorf("line %d: name at column %d, header at %d", i, got, nameCol)
			}
			if got := strings.Index(l, oneLine(c.Detail)); got != detailCol {
				t.Errorf("line %d: detail at column %d, header at %d", i, got, detailCol)
			}
		}
	}
	if !strings.Contains(lines[2], "RLIMIT_AS replaces the memory cgroup") {
		t.Errorf("fallback missing: %q", lines[2])
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[1]), " -") {
		t.Errorf("empty fallback not shown as '-': %q", lines[1])
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestReportWriteError(t *testing.T) {
	r := Report{Checks: []Check{{Name: "kernel", OK: true, Detail: "Linux"}}}
	if err := r.Write(failWriter{}); err == nil {
		t.Error("Write to a failing writer returned nil")
	}
}

func TestReportGet(t *testing.T) {
	r := Report{Checks: []Check{{Name: "seccomp", OK: true, Detail: "a"}, {Name: "julia", Detail: "b"}}}
	tests := []struct {
		name   string
		found  bool
		detail string
	}{
		{"seccomp", true, "a"},
		{"julia", true, "b"},
		{"node", false, ""},
	}
	for _, tt := range tests {
		c, ok := r.Get(tt.name)
		if ok != tt.found || c.Detail != tt.detail {
			t.Errorf("Get(%q) = %+v, %v", tt.name, c, ok)
		}
	}
}
