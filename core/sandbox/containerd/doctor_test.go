package containerd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/retool-rl/retool/core/host"
	"github.com/retool-rl/retool/core/sandbox/containerd"
)

// retool doctor reports a running containerd with its version.
func TestDoctorReportsContainerd(t *testing.T) {
	socket, skip := containerd.DaemonSocket()
	if skip != "" {
		t.Skip(skip)
	}
	r := host.Probe(context.Background(), host.Options{ContainerdSocket: socket})
	for _, c := range r.Checks {
		if c.Name != "containerd" {
			continue
		}
		if !c.OK || !strings.Contains(c.Detail, "2.4.2") || !strings.Contains(c.Detail, socket) {
			t.Fatalf("containerd check: %+v", c)
		}
		return
	}
	t.Fatal("no containerd check in the report")
}
