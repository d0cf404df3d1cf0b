package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatusField(t *testing.T) {
	tests := []struct {
		fixture, key string
		want         string
		found        bool
	}{
		{"status.txt", "Seccomp", "2", true},
		{"status.txt", "NoNewPrivs", "1", true},
		{"status.txt", "Seccomp_filters", "1", true},
		{"status-noseccomp.txt", "Seccomp", "", false},
		{"status-noseccomp.txt", "NoNewPrivs", "0", true},
	}
	for _, tt := range tests {
		f, err := os.Open(filepath.Join("testdata", tt.fixture))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := statusField(f, tt.key)
		f.Close()
		if got != tt.want || ok != tt.found {
			t.Errorf("%s %s: got %q,%v want %q,%v", tt.fixture, tt.key, got, ok, tt.want, tt.found)
		}
	}
}

func TestParseKernelVersion(t *testing.T) {
	tests := []struct {
		release      string
		major, minor int
		wantErr      bool
	}{
		{"6.18.44-fc-v669", 6, 18, false},
		{"3.10.0-1160.el7.x86_64", 3, 10, false},
		{"3.5", 3, 5, false},
		{"5.4+", 5, 4, false},
		{"4.19-rc1", 4, 19, false},
		{"", 0, 0, true},
		{"linux", 0, 0, true},
		{"x.1", 0, 0, true},
	}
	for _, tt := range tests {
		major, minor, err := parseKernelVersion(tt.release)
		if (err != nil) != tt.wantErr || major != tt.major || minor != tt.minor {
			t.Errorf("parseKernelVersion(%q) = %d, %d, %v", tt.release, major, minor, err)
		}
	}
}

// taskFlagged lists this process's threads whose status shows a seccomp
// filter or no_new_privs.
func taskFlagged(t *testing.T) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	var flagged []string
	for _, p := range tasks {
		f, err := os.Open(p)
		if err != nil {
			continue // thread exited meanwhile
		}
		sec, _ := statusField(f, "Seccomp")
		f.Close()
		f, err = os.Open(p)
		if err != nil {
			continue
		}
		nnp, _ := statusField(f, "NoNewPrivs")
		f.Close()
		if sec == "2" || nnp == "1" {
			flagged = append(flagged, p)
		}
	}
	return flagged
}

// The scratch-thread test must leave no thread with a filter or
// no_new_privs behind.
func TestScratchThreadLeavesProcessUntouched(t *testing.T) {
	if f := taskFlagged(t); len(f) > 0 {
		t.Skipf("process already runs under seccomp/no_new_privs: %v", f)
	}
	// Repeat: the goroutine sometimes lands on the main thread, which the
	// runtime parks instead of terminating; that path must delegate.
	for range 20 {
		nnpErr, filterErr := scratchThreadTest()
		if nnpErr != nil || filterErr != nil {
			t.Logf("nnp: %v, filter: %v", nnpErr, filterErr)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		f := taskFlagged(t)
		if len(f) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads still carry seccomp/no_new_privs: %v (pid %d)", f, os.Getpid())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Children started afterwards must not inherit no_new_privs either.
	out, err := runCmd(context.Background(), cmdTimeout, "/bin/grep", "NoNewPrivs", "/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "0") {
		t.Errorf("child status: %q", out)
	}
}

func TestRunCmdTimeout(t *testing.T) {
	start := time.Now()
	_, err := runCmd(context.Background(), 100*time.Millisecond, "/bin/sleep", "10")
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %v, want timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("runCmd took %s despite 100ms timeout", d)
	}
}

func TestRunCmdFailureCarriesStderr(t *testing.T) {
	_, err := runCmd(context.Background(), cmdTimeout, "/bin/sh", "-c", "echo first >&2; echo 'boom here' >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom here") {
		t.Errorf("err = %v, want exit status 3 with stderr's last line", err)
	}
	out, err := runCmd(context.Background(), cmdTimeout, "/bin/sh", "-c", "echo 'Python 2.7.18' >&2")
	if err != nil || out != "Python 2.7.18" {
		t.Errorf("stderr-only output: %q, %v", out, err)
	}
}
