package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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
	// release closes what the group's reader keeps open; delete does too.
	release()
	delete() error
}

// counterFile re-reads a small cgroup file through a descriptor kept
// open: a read at offset 0 regenerates its contents, where an open, read
// and close per execution cost ~75 µs of the host's CPU (pprof, native
// pool). Released before its group is removed: an open file pins a
// removed group's state.
type counterFile struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	closed bool
	buf    [1024]byte
}

func (c *counterFile) value(key string) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, fmt.Errorf("read %s: cgroup released", c.path)
	}
	if c.f == nil {
		f, err := os.Open(c.path)
		if err != nil {
			return 0, err
		}
		c.f = f
	}
	n, err := c.f.ReadAt(c.buf[:], 0)
	if err != nil && err != io.EOF {
		return 0, err
	}
	return keyedValue(c.buf[:n], key), nil
}

func (c *counterFile) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
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
		return newCgroupV1(cg, path), nil
	case "v2":
		m, err := cgroup2.NewManager("/sys/fs/cgroup", path, v2Resources(l))
		if err != nil {
			return nil, fmt.Errorf("create cgroup v2 %s: %w", path, err)
		}
		return newCgroupV2(m, path), nil
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
	if l.CPUs > 0 || l.CPUShares > 0 {
		r.CPU = &specs.LinuxCPU{}
	}
	if l.CPUs > 0 {
		q, p := int64(l.CPUs*cpuPeriod), uint64(cpuPeriod)
		r.CPU.Quota, r.CPU.Period = &q, &p
	}
	if l.CPUShares > 0 {
		sh := l.CPUShares
		r.CPU.Shares = &sh
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
	if l.CPUs > 0 || l.CPUShares > 0 {
		r.CPU = &cgroup2.CPU{}
	}
	if l.CPUs > 0 {
		q, p := int64(l.CPUs*cpuPeriod), uint64(cpuPeriod)
		r.CPU.Max = cgroup2.NewCPUMax(&q, &p)
	}
	if l.CPUShares > 0 {
		w := v2Weight(l.CPUShares)
		r.CPU.Weight = &w
	}
	return r
}

// v2Weight scales cpu.shares (default 1024) to cpu.weight (default 100,
// range 1-10000), so that the default maps onto the default.
func v2Weight(shares uint64) uint64 {
	return min(max(shares*100/1024, 1), 10000)
}

type cgroupV1 struct {
	cg   cgroup1.Cgroup
	path string
	// The kill counter lives only in memory.oom_control on v1.
	oom *counterFile
}

func newCgroupV1(cg cgroup1.Cgroup, path string) *cgroupV1 {
	c := &cgroupV1{cg: cg, path: path}
	for _, s := range cg.Subsystems() {
		if p, ok := s.(interface{ Path(string) string }); ok && s.Name() == cgroup1.Memory {
			c.oom = &counterFile{path: filepath.Join(p.Path(path), "memory.oom_control")}
		}
	}
	return c
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
	if n, err := c.oomKills(); err == nil {
		u.OOMKills = n
	}
	return u, nil
}

func (c *cgroupV1) oomKills() (uint64, error) {
	if c.oom == nil {
		return 0, errors.New("no memory controller")
	}
	return c.oom.value("oom_kill")
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

func (c *cgroupV1) release() {
	if c.oom != nil {
		c.oom.release()
	}
}

func (c *cgroupV1) delete() error {
	c.release()
	return c.cg.Delete()
}

type cgroupV2 struct {
	m      *cgroup2.Manager
	dir    string
	events *counterFile
}

func newCgroupV2(m *cgroup2.Manager, path string) *cgroupV2 {
	dir := filepath.Join("/sys/fs/cgroup", path)
	return &cgroupV2{m: m, dir: dir, events: &counterFile{path: filepath.Join(dir, "memory.events")}}
}

func (c *cgroupV2) oomKills() (uint64, error) { return c.events.value("oom_kill") }

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

func (c *cgroupV2) release() { c.events.release() }

func (c *cgroupV2) delete() error {
	c.release()
	return c.m.Delete()
}

// keyedValue reads "key N" from a flat keyed file such as memory.oom_control.
func keyedValue(b []byte, key string) uint64 {
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte{' '})
		if ok && string(k) == key {
			n, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
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
		return newCgroupV1(c, path), nil
	case "v2":
		m, err := cgroup2.Load(path)
		if err != nil {
			return nil, fmt.Errorf("load cgroup v2 %s: %w", path, err)
		}
		return newCgroupV2(m, path), nil
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

// Close releases the descriptor OOMKills keeps open; the group itself is
// its runtime's to remove.
func (c *Cgroup) Close() { c.cg.release() }
