package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// knownV1Controllers filters cgroup v1 mount options down to controllers
// (dropping rw, relatime, name=systemd, clone_children, ...).
var knownV1Controllers = map[string]bool{
	"blkio": true, "cpu": true, "cpuacct": true, "cpuset": true, "devices": true,
	"freezer": true, "hugetlb": true, "memory": true, "misc": true, "net_cls": true,
	"net_prio": true, "perf_event": true, "pids": true, "rdma": true,
}

// cgroupLayout is what the mount table says about cgroups.
type cgroupLayout struct {
	V1      map[string]string // v1 controller → mount point of its hierarchy
	Unified string            // mount point of the cgroup2 hierarchy; "" if none
}

// version is "v1", "v2", "hybrid" (v1 controllers plus a cgroup2 mount) or
// "none". A v1 hierarchy with no controller (name=systemd) does not count.
func (l cgroupLayout) version() string {
	switch {
	case len(l.V1) > 0 && l.Unified != "":
		return "hybrid"
	case len(l.V1) > 0:
		return "v1"
	case l.Unified != "":
		return "v2"
	}
	return "none"
}

// v1Controllers returns the mounted v1 controllers, sorted.
func (l cgroupLayout) v1Controllers() []string {
	out := make([]string, 0, len(l.V1))
	for c := range l.V1 {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// parseCgroupMounts reads /proc/self/mountinfo or /proc/mounts content (the
// format is detected per line) and returns the cgroup hierarchies in it. The
// first mount of a controller or of cgroup2 wins.
func parseCgroupMounts(r io.Reader) (cgroupLayout, error) {
	l := cgroupLayout{V1: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		mountPoint, fsType, opts, ok := splitMountLine(sc.Text())
		if !ok {
			continue
		}
		switch fsType {
		case "cgroup2":
			if l.Unified == "" {
				l.Unified = mountPoint
			}
		case "cgroup":
			for _, o := range opts {
				if knownV1Controllers[o] {
					if _, seen := l.V1[o]; !seen {
						l.V1[o] = mountPoint
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return cgroupLayout{}, err
	}
	return l, nil
}

// splitMountLine extracts mount point, filesystem type and options (mount
// and super options merged) from one mountinfo or /proc/mounts line.
func splitMountLine(line string) (mountPoint, fsType string, opts []string, ok bool) {
	f := strings.Fields(line)
	// mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
	if len(f) >= 7 {
		if _, err := strconv.Atoi(f[0]); err == nil {
			for i := 6; i < len(f); i++ {
				if f[i] != "-" {
					continue
				}
				if i+1 >= len(f) {
					return "", "", nil, false
				}
				opts = strings.Split(f[5], ",")
				if i+3 < len(f) {
					opts = append(opts, strings.Split(f[i+3], ",")...)
				}
				return unescapeMount(f[4]), f[i+1], opts, true
			}
		}
	}
	// /proc/mounts: SOURCE MOUNTPOINT FSTYPE OPTS FREQ PASSNO
	if len(f) >= 4 {
		return unescapeMount(f[1]), f[2], strings.Split(f[3], ","), true
	}
	return "", "", nil, false
}

// unescapeMount undoes the kernel's octal escaping (\040 for space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseControllerList parses a cgroup.controllers or cgroup.subtree_control
// file: space-separated controller names.
func parseControllerList(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func readControllerList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseControllerList(f)
}

func readCgroupLayout() (cgroupLayout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroupLayout{}, err
	}
	defer f.Close()
	return parseCgroupMounts(f)
}

// Cgroups reports how cgroups are mounted: "v1", "v2", "hybrid" (v1
// controllers plus a cgroup2 mount, usually /sys/fs/cgroup/unified) or
// "none"; plus the mounted v1 controllers (v1, hybrid) or the controllers
// available in the cgroup2 root's cgroup.controllers (v2).
func Cgroups() (version string, controllers []string, err error) {
	l, err := readCgroupLayout()
	if err != nil {
		return "none", nil, err
	}
	version = l.version()
	switch version {
	case "v1", "hybrid":
		return version, l.v1Controllers(), nil
	case "v2":
		controllers, err = readControllerList(filepath.Join(l.Unified, "cgroup.controllers"))
		return version, controllers, err
	}
	return version, nil, nil
}

// cgroupNeed is one controller the sandbox wants, the file that proves it
// works, a harmless value to write there, and what replaces it otherwise.
type cgroupNeed struct {
	controller string
	v1File     string
	v2File     string
	value      string
	fallback   string
}

var cgroupNeeds = []cgroupNeed{
	{"memory", "memory.limit_in_bytes", "memory.max", "268435456", "RLIMIT_AS replaces the memory cgroup"},
	{"pids", "pids.max", "pids.max", "64", "RLIMIT_NPROC replaces the pids cgroup"},
	{"cpu", "cpu.shares", "cpu.weight", "50", "RLIMIT_CPU only; no CPU share limit"},
}

// cgroupProbeMu serialises test-cgroup creation: the directory name only
// carries the pid, so concurrent Probe calls would collide.
var cgroupProbeMu sync.Mutex

func testCgroupName() string { return fmt.Sprintf("retool-doctor-%d", os.Getpid()) }

// probeCgroups reports the cgroup layout and, for memory, pids and cpu,
// whether a test cgroup can be created, limited and removed.
func probeCgroups() []Check {
	checks := []Check{{Name: "cgroups"}}
	l, err := readCgroupLayout()
	if err != nil {
		checks[0].Detail = "read /proc/self/mountinfo: " + err.Error()
		for _, n := range cgroupNeeds {
			checks = append(checks, Check{Name: "cgroup " + n.controller, Detail: "cgroup layout unknown", Fallback: n.fallback})
		}
		return checks
	}
	version := l.version()
	var unifiedCtrls []string
	var unifiedErr error
	if l.Unified != "" {
		unifiedCtrls, unifiedErr = readControllerList(filepath.Join(l.Unified, "cgroup.controllers"))
	}

	c := &checks[0]
	c.OK = version != "none"
	parts := []string{version}
	if len(l.V1) > 0 {
		parts = append(parts, "v1 controllers: "+strings.Join(l.v1Controllers(), ","))
	}
	if l.Unified != "" {
		switch {
		case unifiedErr != nil:
			parts = append(parts, fmt.Sprintf("cgroup2 at %s: %v", l.Unified, unifiedErr))
		case len(unifiedCtrls) == 0:
			parts = append(parts, fmt.Sprintf("cgroup2 at %s with no controllers", l.Unified))
		default:
			parts = append(parts, fmt.Sprintf("cgroup2 at %s: %s", l.Unified, strings.Join(unifiedCtrls, ",")))
		}
	}
	if version == "none" {
		parts = append(parts, "no cgroup filesystem mounted")
	}
	c.Detail = strings.Join(parts, "; ")

	cgroupProbeMu.Lock()
	defer cgroupProbeMu.Unlock()
	for _, n := range cgroupNeeds {
		checks = append(checks, probeController(l, unifiedCtrls, n))
	}
	return checks
}

func probeController(l cgroupLayout, unifiedCtrls []string, n cgroupNeed) Check {
	c := Check{Name: "cgroup " + n.controller}
	if mnt, ok := l.V1[n.controller]; ok {
		dir := filepath.Join(mnt, testCgroupName())
		if err := tryCgroup(dir, n.v1File, n.value); err != nil {
			c.Detail = fmt.Sprintf("v1 %s: %v", mnt, err)
		} else {
			c.OK = true
			c.Detail = fmt.Sprintf("v1 %s: created test cgroup, wrote %s, removed it", mnt, n.v1File)
		}
	} else if l.Unified != "" && slices.Contains(unifiedCtrls, n.controller) {
		if err := tryCgroupV2(l.Unified, n); err != nil {
			c.Detail = fmt.Sprintf("v2 %s: %v", l.Unified, err)
		} else {
			c.OK = true
			c.Detail = fmt.Sprintf("v2 %s: created test cgroup, wrote %s, removed it", l.Unified, n.v2File)
		}
	} else {
		c.Detail = fmt.Sprintf("no %s controller (cgroups %s)", n.controller, l.version())
	}
	if !c.OK {
		c.Fallback = n.fallback
	}
	return c
}

// tryCgroupV2 enables the controller in root's cgroup.subtree_control if it
// is not already (and disables it again afterwards), then tests a child.
func tryCgroupV2(root string, n cgroupNeed) (err error) {
	subtree := filepath.Join(root, "cgroup.subtree_control")
	enabled, err := readControllerList(subtree)
	if err != nil {
		return err
	}
	if !slices.Contains(enabled, n.controller) {
		if err := writeCgroupFile(subtree, "+"+n.controller); err != nil {
			return fmt.Errorf("enable %s in %s: %w", n.controller, subtree, err)
		}
		defer func() {
			if rerr := writeCgroupFile(subtree, "-"+n.controller); rerr != nil && err == nil {
				err = fmt.Errorf("restore %s: %w", subtree, rerr)
			}
		}()
	}
	return tryCgroup(filepath.Join(root, testCgroupName()), n.v2File, n.value)
}

// tryCgroup creates dir, writes value to dir/file and removes dir again. The
// directory is removed on every path once created; a leftover from an
// earlier crashed run with the same pid is removed first.
func tryCgroup(dir, file, value string) (err error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("stale %s: %w", dir, err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
	}
	defer func() {
		if rerr := os.Remove(dir); rerr != nil && err == nil {
			err = fmt.Errorf("remove test cgroup: %w", rerr)
		}
	}()
	return writeCgroupFile(filepath.Join(dir, file), value)
}

// writeCgroupFile writes to an existing control file (no O_CREATE, no
// O_TRUNC: control files are never created by the writer).
func writeCgroupFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}
