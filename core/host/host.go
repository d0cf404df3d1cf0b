package host

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"golang.org/x/sys/unix"
)

// Check is the outcome of one probe.
type Check struct {
	Name     string // "user namespaces", "cgroup memory", "seccomp", "python3", ...
	OK       bool
	Detail   string // one line: version, path, or why not
	Fallback string // when !OK and something replaces it; "" if nothing
}

// Report is the ordered list of checks produced by Probe.
type Report struct {
	Checks []Check
}

// Options selects the binaries and sockets Probe looks at.
type Options struct {
	// Python is the interpreter used by the python and sympy runtimes.
	// Default: /usr/bin/python3 (not the first python3 on PATH, which may be
	// a pyenv shim without Debian's packages).
	Python string
	// Julia is the julia binary. Default: "julia" looked up on PATH.
	Julia string
	// ContainerdSocket defaults to /run/containerd/containerd.sock.
	ContainerdSocket string
}

// Defaults used when the corresponding Options field is empty.
const (
	DefaultPython           = "/usr/bin/python3"
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
)

func (o Options) withDefaults() Options {
	if o.Python == "" {
		o.Python = DefaultPython
	}
	if o.ContainerdSocket == "" {
		o.ContainerdSocket = DefaultContainerdSocket
	}
	return o
}

// Probe runs every check and returns them in a fixed order: kernel, root,
// the six namespaces, cgroups and its controllers, seccomp, no_new_privs,
// python3, sympy, numpy, julia, node, containerd, runc, runsc. Independent groups
// of checks run concurrently; every external command has a timeout, and ctx
// cancels them all.
func Probe(ctx context.Context, opts Options) Report {
	opts = opts.withDefaults()
	groups := []func() []Check{
		func() []Check { return []Check{kernelCheck(), rootCheck()} },
		func() []Check { return probeNamespaces(ctx) },
		func() []Check { return probeCgroups() },
		func() []Check { return probeSeccomp() },
		func() []Check { return probePython(ctx, opts.Python) },
		func() []Check { return []Check{probeJulia(ctx, opts.Julia)} },
		func() []Check { return []Check{probeNode(ctx)} },
		func() []Check { return probeContainerd(ctx, opts.ContainerdSocket) },
	}
	results := make([][]Check, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { results[i] = g() })
	}
	wg.Wait()

	var r Report
	for _, cs := range results {
		for _, c := range cs {
			c.Detail = oneLine(c.Detail)
			c.Fallback = oneLine(c.Fallback)
			if c.OK {
				c.Fallback = ""
			}
			r.Checks = append(r.Checks, c)
		}
	}
	return r
}

// Get returns the check with the given name.
func (r Report) Get(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// Write prints the report as an aligned table: status (ok/MISSING), name,
// detail, fallback.
func (r Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL\tFALLBACK"); err != nil {
		return err
	}
	for _, c := range r.Checks {
		status := "ok"
		if !c.OK {
			status = "MISSING"
		}
		fb := c.Fallback
		if fb == "" {
			fb = "-"
		}
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", status, oneLine(c.Name), oneLine(c.Detail), oneLine(fb)); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// oneLine collapses whitespace (including tabs and newlines, which would
// break the table) into single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func kernelCheck() Check {
	c := Check{Name: "kernel"}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		c.Detail = "uname: " + err.Error()
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("%s %s (%s)", unix.ByteSliceToString(u.Sysname[:]),
		unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]))
	return c
}

func rootCheck() Check {
	c := Check{Name: "root"}
	euid := os.Geteuid()
	if euid == 0 {
		c.OK = true
		c.Detail = "running as root (euid 0)"
		return c
	}
	c.Detail = fmt.Sprintf("running as euid %d: cgroup setup and non-user namespaces need root", euid)
	return c
}
