package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	seccomp "github.com/elastic/go-seccomp-bpf"
)

func TestKeyedValue(t *testing.T) {
	cases := map[string]struct {
		in   string
		want uint64
	}{
		"v1 oom_control": {"oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", 3},
		"v2 events":      {"low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n", 2},
		"absent":         {"under_oom 0\n", 0},
		"prefix only":    {"oom_kill_disable 1\n", 0},
	}
	for name, c := range cases {
		if got := keyedValue([]byte(c.in), "oom_kill"); got != c.want {
			t.Errorf("%s: got %d, want %d", name, got, c.want)
		}
	}
}

func TestOwnerGone(t *testing.T) {
	cases := map[string]bool{
		"python-" + strconv.Itoa(os.Getpid()) + "-3":     false, // alive: this process
		"python-2147483000-3":                            true,  // no such pid
		"probe-12":                                       false, // not NAME-PID-SEQ
		"my-runtime-" + strconv.Itoa(os.Getpid()) + "-1": false,
		"weird-name-x-1":                                 false,
	}
	for name, want := range cases {
		if got := ownerGone(name); got != want {
			t.Errorf("ownerGone(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSeccompPolicyAssembles(t *testing.T) {
	p := policy()
	insts, err := p.Assemble()
	if err != nil {
		t.Fatalf("policy does not assemble: %v", err)
	}
	// Every denied call must be a real syscall name on this architecture,
	// or Assemble fails above; make sure none were dropped on the way.
	if len(insts) < len(deniedSyscalls) {
		t.Fatalf("%d instructions for %d denied calls", len(insts), len(deniedSyscalls))
	}
	if p.DefaultAction != seccomp.ActionAllow {
		t.Fatal("default action must allow: the filter is a deny list")
	}
}

// The "none" backend runs the program without namespaces; Close must still
// remove its temp dir and leave no process.
func TestNoneBackendLeavesNothing(t *testing.T) {
	n := NewNative(false)
	if n.Isolated() || n.ExecUID() != -1 || len(n.Degraded()) == 0 {
		t.Fatalf("none backend: isolated %v exec uid %d degraded %v", n.Isolated(), n.ExecUID(), n.Degraded())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := n.Start(ctx, Spec{Name: "none-test", Path: "/bin/sleep", Args: []string{"sleep", "60"}, UID: -1,
		Files: map[string][]byte{"driver.txt": []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	nw := w.(*nativeWorker)
	if _, err := os.Stat(filepath.Join(nw.dir, ".retool", "driver.txt")); err != nil {
		t.Fatalf("driver file not placed: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(nw.dir); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s left behind", nw.dir)
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("worker not done after Close")
	}
}

func TestMissingProgramFailsClearly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a uid range")
	}
	n := NewNative(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := n.Start(ctx, Spec{Name: "missing", Path: "/usr/bin/no-such-interpreter", Args: []string{"x"}, UID: -1})
	if err != nil {
		t.Fatal(err) // the init starts; the program's absence shows as its exit
	}
	defer w.Close()
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("worker with a missing program did not exit")
	}
	if st := w.ExitStatus(); st != 127 {
		t.Fatalf("exit status %d, want 127 (init could not start the program)", st)
	}
}

func TestCheckReadOnlyPath(t *testing.T) {
	for _, tt := range []struct {
		path string
		err  string // "" when accepted
	}{
		{"/opt/julia", ""},
		{"/tmpfs-data", ""},
		{"/usr/share/dict", ""},
		{"opt/julia", `"opt/julia" is not an absolute path`},
		{"/tmp", `"/tmp" is at or below /tmp`},
		{"/tmp/shared", `"/tmp/shared" is at or below /tmp`},
		{"/opt/../work/x", `"/work/x" is at or below /work`},
		{"/.retool/zygote.py", `"/.retool/zygote.py" is at or below /.retool`},
		{"/proc/1", `"/proc/1" is at or below /proc`},
	} {
		err := CheckReadOnlyPath(tt.path)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("CheckReadOnlyPath(%q) = %v, want %q", tt.path, err, tt.err)
		}
	}
}
