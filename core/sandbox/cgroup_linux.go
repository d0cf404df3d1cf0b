package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroup is the part of a control group a worker needs. Both versions go
// through containerd/cgroups so that neither is hand-written here.
type cgroup interface {
	add(pid int) error
	update(Limits) error
	usage() (Usage, error)
	// oomKills reads only the OOM-kill counter: cheap enough for every execution.
	oomKills() (uint64, error)
	procs() ([]int, error)
	delete() error
}

const cpuPeriod = 100000 // µs

// cgroupMode reports which cgroup API this host offers to a worker.
func cgroupMode() string {
	switch cgroups.Mode() {
	case cgroups.Unified:
		return "v2"
	case cgroups.Legacy, cgroups.Hybrid:
		return "v1"
	}
	return "none"
}

// v1Controllers restricts a v1 cgroup to the controllers a worker uses:
// creating a group in every mounted hierarchy costs time for nothing.
func v1Controllers() ([]cgroup1.Subsystem, error) {
	all, err := cgroup1.Default()
	if err != nil {
		return nil, err
	}
	var keep []cgroup1.Subsystem
	for _, s := range all {
		switch s.Name() {
		case cgroup1.Memory, cgroup1.Pids, cgroup1.Cpu, cgroup1.Cpuacct:
			keep = append(keep, s)
		}
	}
	return keep, nil
}

func newCgroup(path string, l Limits) (cgroup, error) {
	switch cgroupMode() {
	case "v1":
		cg, err := cgroup1.New(cgroup1.StaticPath(path), OCIResources(l), cgroup1.WithHierarchy(v1Controllers))
		if err != nil {
			return nil, fmt.Errorf("create cgroup v1 %s: %w", path, err)
		}
		c := &cgroupV1{cg: cg, path: path}
		for _, s := range cg.Subsystems() {
			if p, ok := s.(interface{ Path(string) string }); ok && s.Name() == cgroup1.Memory {
				c.memDir = p.Path(path)
			}
		}
		return c, nil
	case "v2":
		m, err := cgroup2.NewManager("/sys/fs/cgroup", path, v2Resources(l))
		if err != nil {
			return nil, fmt.Errorf("create cgroup v2 %s: %w", path, err)
		}
		return &cgroupV2{m: m, dir: filepath.Join("/sys/fs/cgroup", path)}, nil
	}
	return nil, errors.New("no cgroup hierarchy mounted")
}

// OCIResources are l as an OCI spec (and cgroup v1) writes them.
func OCIResources(l Limits) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if l.MemoryBytes > 0 {
		m := l.MemoryBytes
		r.Memory = &specs.LinuxMemory{Limit: &m}
	}
	if l.Pids > 0 {
		n := int64(l.Pids)
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	if l.CPUs > 0 {
		q, p := int64(l.CPUs*cpuPeriod), uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &q, Period: &p}
	}
	return r
}

func v2Resources(l Limits) *cgroup2.Resources {
	r := &cgroup2.Resources{}
	if l.MemoryBytes > 0 {
		m, swap := l.MemoryBytes, int64(0)
		r.Memory = &cgroup2.Memory{Max: &m, Swap: &swap}
	}
	if l.Pids > 0 {
		r.Pids = &cgroup2.Pids{Max: int64(l.Pids)}
	}
	if l.CPUs > 0 {
		q, p := int64(l.CPUs*cpuPeriod), uint64(cpuPeriod)
		r.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&q, &p)}
	}
	return r
}

type cgroupV1 struct {
	cg     cgroup1.Cgroup
	path   string
	memDir string
}

func (c *cgroupV1) add(pid int) error {
	return c.cg.Add(cgroup1.Process{Pid: pid})
}

func (c *cgroupV1) update(l Limits) error { return c.cg.Update(OCIResources(l)) }

func (c *cgroupV1) usage() (Usage, error) {
	st, err := c.cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CgroupTracked: true}
	if st.CPU != nil && st.CPU.Usage != nil {
		u.CPUTime = time.Duration(st.CPU.Usage.Total)
	}
	if st.Memory != nil && st.Memory.Usage != nil {
		u.PeakMemory = int64(st.Memory.Usage.Max)
	}
	// The kill counter lives only in memory.oom_control on v1.
	if c.memDir != "" {
		if b, err := os.ReadFile(filepath.Join(c.memDir, "memory.oom_control")); err == nil {
			u.OOMKills = keyedValue(b, "oom_kill")
		}
	}
	return u, nil
}

func (c *cgroupV1) oomKills() (uint64, error) {
	if c.memDir == "" {
		return 0, errors.New("no memory controller")
	}
	b, err := os.ReadFile(filepath.Join(c.memDir, "memory.oom_control"))
	if err != nil {
		return 0, err
	}
	return keyedValue(b, "oom_kill"), nil
}

func (c *cgroupV1) procs() ([]int, error) {
	ps, err := c.cg.Processes(cgroup1.Pids, true)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Pid)
	}
	return out, nil
}

func (c *cgroupV1) delete() error { return c.cg.Delete() }

type cgroupV2 struct {
	m   *cgroup2.Manager
	dir string
}

func (c *cgroupV2) oomKills() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "memory.events"))
	if err != nil {
		return 0, err
	}
	return keyedValue(b, "oom_kill"), nil
}

func (c *cgroupV2) add(pid int) error     { return c.m.AddProc(uint64(pid)) }
func (c *cgroupV2) update(l Limits) error { return c.m.Update(v2Resources(l)) }

func (c *cgroupV2) usage() (Usage, error) {
	st, err := c.m.Stat()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CgroupTracked: true}
	if st.CPU != nil {
		u.CPUTime = time.Duration(st.CPU.UsageUsec) * time.Microsecond
	}
	if st.Memory != nil {
		u.PeakMemory = int64(st.Memory.MaxUsage)
	}
	if st.MemoryEvents != nil {
		u.OOMKills = st.MemoryEvents.OomKill
	}
	return u, nil
}

func (c *cgroupV2) procs() ([]int, error) {
	ps, err := c.m.Procs(true)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ps))
	for _, p := range ps {
		out = append(out, int(p))
	}
	return out, nil
}

func (c *cgroupV2) delete() error { return c.m.Delete() }

// keyedValue reads "key N" from a flat keyed file such as memory.oom_control.
func keyedValue(b []byte, key string) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 2 && string(f[0]) == key {
			n, _ := strconv.ParseUint(string(f[1]), 10, 64)
			return n
		}
	}
	return 0
}

// staleCgroups lists worker cgroups (retool/NAME-PID-SEQ) whose creating
// process is gone: what a killed plugin could not remove.
func staleCgroups() []string {
	var dir string
	switch cgroupMode() {
	case "v1":
		subs, err := v1Controllers()
		if err != nil || len(subs) == 0 {
			return nil
		}
		p, ok := subs[0].(interface{ Path(string) string })
		if !ok {
			return nil
		}
		dir = p.Path("retool")
	case "v2":
		dir = "/sys/fs/cgroup/retool"
	default:
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ownerGone(e.Name()) {
			out = append(out, "retool/"+e.Name())
		}
	}
	return out
}

// loadCgroup opens an existing group: a stale one of a dead plugin, or
// one a container runtime created for a worker.
func loadCgroup(path string) (cgroup, error) {
	switch cgroupMode() {
	case "v1":
		c, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(v1Controllers))
		if err != nil {
			return nil, fmt.Errorf("load cgroup v1 %s: %w", path, err)
		}
		cg := &cgroupV1{cg: c, path: path}
		for _, s := range c.Subsystems() {
			if p, ok := s.(interface{ Path(string) string }); ok && s.Name() == cgroup1.Memory {
				cg.memDir = p.Path(path)
			}
		}
		return cg, nil
	case "v2":
		m, err := cgroup2.Load(path)
		if err != nil {
			return nil, fmt.Errorf("load cgroup v2 %s: %w", path, err)
		}
		return &cgroupV2{m: m, dir: filepath.Join("/sys/fs/cgroup", path)}, nil
	}
	return nil, errors.New("no cgroup hierarchy mounted")
}

// removeCgroup kills what is left in a stale group and removes it.
func removeCgroup(path string) error {
	cg, err := loadCgroup(path)
	if err != nil {
		return err
	}
	w := &nativeWorker{cg: cg}
	w.cleanup()
	return w.err
}

// Cgroup is a group another component made: a container runtime creates a
// containerd worker's group. Reading and retuning it here costs a file
// access, where a call through the runtime costs milliseconds (runc
// update) or is not offered at all (runsc has no update).
type Cgroup struct{ cg cgroup }

// LoadCgroup opens the group at path (relative to the hierarchy's root,
// as in an OCI spec's cgroupsPath).
func LoadCgroup(path string) (*Cgroup, error) {
	cg, err := loadCgroup(path)
	if err != nil {
		return nil, err
	}
	return &Cgroup{cg: cg}, nil
}

// Update sets the group's memory, pids and CPU limits.
func (c *Cgroup) Update(l Limits) error { return c.cg.update(l) }

// Usage reads CPU time, peak memory and OOM kills.
func (c *Cgroup) Usage() (Usage, error) { return c.cg.usage() }

// OOMKills reads the OOM-kill counter alone.
func (c *Cgroup) OOMKills() (uint64, error) { return c.cg.oomKills() }
