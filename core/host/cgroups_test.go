package host

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parseFixture(t *testing.T, name string) cgroupLayout {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := parseCgroupMounts(f)
	if err != nil {
		t.Fatalf("parseCgroupMounts(%s): %v", name, err)
	}
	return l
}

func TestParseCgroupMounts(t *testing.T) {
	tests := []struct {
		fixture     string
		version     string
		controllers []string          // sorted v1 controllers
		mounts      map[string]string // spot checks: controller → mount point
		unified     string
	}{
		{
			fixture:     "mountinfo-hybrid.txt", // this host
			version:     "hybrid",
			controllers: []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"},
			mounts:      map[string]string{"memory": "/sys/fs/cgroup/memory", "cpu": "/sys/fs/cgroup/cpu"},
			unified:     "/sys/fs/cgroup/unified",
		},
		{
			fixture:     "mounts-hybrid.txt", // /proc/mounts format
			version:     "hybrid",
			controllers: []string{"cpu", "cpuacct", "memory", "pids", "rdma"},
			mounts:      map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"},
			unified:     "/sys/fs/cgroup/unified",
		},
		{
			fixture: "mountinfo-v1.txt",
			version: "v1",
			controllers: []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer",
				"hugetlb", "memory", "net_cls", "net_prio", "perf_event", "pids"},
			mounts: map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "net_prio": "/sys/fs/cgroup/net_cls,net_prio"},
		},
		{
			fixture:     "mountinfo-v2.txt",
			version:     "v2",
			controllers: []string{},
			unified:     "/sys/fs/cgroup",
		},
		{
			fixture:     "mountinfo-v2-named-systemd.txt", // name=systemd has no controller
			version:     "v2",
			controllers: []string{},
			unified:     "/sys/fs/cgroup",
		},
		{
			fixture:     "mountinfo-none.txt",
			version:     "none",
			controllers: []string{},
		},
		{
			fixture:     "mountinfo-escaped.txt",
			version:     "hybrid",
			controllers: []string{"memory"},
			mounts:      map[string]string{"memory": "/mnt/my cgroups/memory"},
			unified:     "/mnt/my cgroups/unified",
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			l := parseFixture(t, tt.fixture)
			if got := l.version(); got != tt.version {
				t.Errorf("version = %q, want %q", got, tt.version)
			}
			if got := l.v1Controllers(); !slices.Equal(got, tt.controllers) {
				t.Errorf("v1 controllers = %v, want %v", got, tt.controllers)
			}
			for ctrl, want := range tt.mounts {
				if got := l.V1[ctrl]; got != want {
					t.Errorf("mount of %s = %q, want %q", ctrl, got, want)
				}
			}
			if l.Unified != tt.unified {
				t.Errorf("unified = %q, want %q", l.Unified, tt.unified)
			}
		})
	}
}

func TestParseControllerList(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		{"cgroup.controllers", []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}},
		{"cgroup.controllers-empty", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := readControllerList(filepath.Join("testdata", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/sys/fs/cgroup`, `/sys/fs/cgroup`},
		{`/a\040b`, `/a b`},
		{`/tab\011x\134y`, "/tab\tx\\y"},
		{`/trailing\04`, `/trailing\04`}, // too short to be an escape
		{`/bad\09x`, `/bad\09x`},         // 9 is not octal
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// tryCgroup must remove its directory even when the limit cannot be written,
// and must clear a stale directory left by an earlier run.
func TestTryCgroupCleansUpOnError(t *testing.T) {
	for _, stale := range []bool{false, true} {
		root := t.TempDir()
		dir := filepath.Join(root, testCgroupName())
		if stale {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// A plain directory has no memory.max, so the write fails.
		err := tryCgroup(dir, "memory.max", "1")
		if err == nil {
			t.Fatalf("stale=%v: tryCgroup on a plain directory succeeded", stale)
		}
		if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
			t.Errorf("stale=%v: %s left behind (stat: %v)", stale, dir, serr)
		}
	}
}

func TestTryCgroupMkdirError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing-parent", testCgroupName())
	err := tryCgroup(dir, "pids.max", "1")
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v, want mkdir ENOENT", err)
	}
}

// Cgroups on this machine: every reported v1 controller is a mounted
// hierarchy with a cgroup.procs file; for v2, the root has one.
func TestCgroupsThisHost(t *testing.T) {
	version, controllers, err := Cgroups()
	if err != nil {
		t.Fatal(err)
	}
	l, err := readCgroupLayout()
	if err != nil {
		t.Fatal(err)
	}
	if version != l.version() {
		t.Errorf("Cgroups version %q, layout %q", version, l.version())
	}
	t.Logf("cgroups %s: %v", version, controllers)
	switch version {
	case "v1", "hybrid":
		if len(controllers) == 0 {
			t.Fatalf("%s with no controllers", version)
		}
		for _, c := range controllers {
			if _, err := os.Stat(filepath.Join(l.V1[c], "cgroup.procs")); err != nil {
				t.Errorf("controller %s: %v", c, err)
			}
		}
	case "v2":
		if _, err := os.Stat(filepath.Join(l.Unified, "cgroup.procs")); err != nil {
			t.Error(err)
		}
	}
}
