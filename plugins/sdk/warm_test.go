package sdk

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

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
