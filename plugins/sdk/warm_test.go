package sdk

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/pool"
)

// TestConfigureSandboxErrors: settings that cannot work are refused by
// Configure with one line naming the cause, before any worker starts.
func TestConfigureSandboxErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "containerd.sock")
	tests := []struct {
		name    string
		set     Settings
		invalid bool // errors.Is(err, execution.ErrInvalid)
		want    string
	}{
		{"unknown backend", Settings{Sandbox: SandboxSettings{Backend: "docker"}}, true,
			`sandbox backend "docker" is not available in this runtime (native, containerd, none)`},
		{"image without containerd", Settings{Values: map[string]string{"image": "retool.local/py:1"}}, true,
			`settings.image names a container image, which only sandbox.backend = "containerd" uses`},
		{"demote_after not a duration", Settings{Values: map[string]string{"demote_after": "soon"}}, true,
			`test runtime: settings.demote_after = "soon": want a positive duration such as "100ms", or "off"`},
		{"demote_after negative", Settings{Values: map[string]string{"demote_after": "-1s"}}, true,
			`settings.demote_after = "-1s"`},
		{"containerd not running", Settings{Sandbox: SandboxSettings{Backend: "containerd",
			Containerd: ContainerdSettings{Socket: missing}}}, false,
			"configure test runtime: containerd: connect unix://" + missing + ": no such socket; is containerd running?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &WarmRuntime{Meta: Info{Name: "test"}, Driver: func(map[string]string) (pool.Driver, error) {
				return pool.Driver{Path: "/usr/bin/python3"}, nil
			}}
			defer w.Close()
			err := w.Configure(context.Background(), tt.set)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, tt.want)
			}
			if errors.Is(err, execution.ErrInvalid) != tt.invalid {
				t.Errorf("errors.Is(ErrInvalid) = %v, want %v", !tt.invalid, tt.invalid)
			}
		})
	}
}

func TestDemoteAfterSetting(t *testing.T) {
	cases := map[string]time.Duration{"": 0, "off": -1, "250ms": 250 * time.Millisecond, "2s": 2 * time.Second}
	for in, want := range cases {
		got, err := demoteAfter(in)
		if err != nil || got != want {
			t.Errorf("demoteAfter(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "0s", "-5ms", "fast", "100"} {
		if _, err := demoteAfter(in); err == nil {
			t.Errorf("demoteAfter(%q) accepted", in)
		}
	}
}
