package sysmon

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestEnv(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"no GODEBUG", []string{"PATH=/bin", "HOME=/root"}, []string{"PATH=/bin", "HOME=/root", "GODEBUG=" + Setting}},
		{"empty GODEBUG", []string{"GODEBUG=", "PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=" + Setting}},
		{"other settings kept", []string{"GODEBUG=gctrace=1,madvdontneed=0"}, []string{"GODEBUG=gctrace=1,madvdontneed=0," + Setting}},
		{"user's schedtrace wins", []string{"GODEBUG=schedtrace=0", "A=1"}, []string{"A=1", "GODEBUG=schedtrace=0"}},
		{"user's schedtrace among others", []string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}},
		{"last GODEBUG counts, set once", []string{"GODEBUG=schedtrace=0", "GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1," + Setting}},
		{"a lookalike key is not schedtrace", []string{"GODEBUG=schedtracex=1"}, []string{"GODEBUG=schedtracex=1," + Setting}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := Env(in); !slices.Equal(got, tt.want) {
				t.Errorf("Env(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("Env modified its argument: %q", in)
			}
		})
	}
}

// TestReexec runs this test binary as a child that calls Reexec and
// prints its GODEBUG: the child must come back as itself with the
// setting, once, with its arguments intact.
func TestReexec(t *testing.T) {
	if os.Getenv("SYSMON_TEST_CHILD") == "1" {
		if err := Reexec(); err != nil {
			t.Fatal(err)
		}
		// Reached only with the setting in place: after the exec, or at
		// once when the parent's GODEBUG already had one.
		os.Stdout.WriteString("child GODEBUG=" + os.Getenv("GODEBUG") + " args=" + strings.Join(os.Args[1:], " ") + "\n")
		return
	}
	for _, tt := range []struct{ godebug, want string }{
		{"", "child GODEBUG=" + Setting},
		{"gctrace=0", "child GODEBUG=gctrace=0," + Setting},
		{"schedtrace=0", "child GODEBUG=schedtrace=0"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReexec$", "-test.v")
		cmd.Env = append(os.Environ(), "SYSMON_TEST_CHILD=1", "GODEBUG="+tt.godebug)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with GODEBUG=%q: %v\n%s", tt.godebug, err, out)
		}
		if !strings.Contains(string(out), tt.want+" args=-test.run=^TestReexec$ -test.v\n") {
			t.Errorf("child with GODEBUG=%q printed:\n%s\nwant a line %q", tt.godebug, out, tt.want)
		}
	}
}
