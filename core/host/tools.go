package host

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/retool-rl/retool/core/sandbox/containerd"
)

// executable reports whether path is an existing regular file with an
// execute bit, as a short reason when it is not.
func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s: not found", path)
		}
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: is a directory", path)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not executable", path)
	}
	return nil
}

// probePython returns the "python3", "sympy" and "numpy" checks, all run
// with the given interpreter; every Detail names that interpreter.
func probePython(ctx context.Context, python string) []Check {
	py := Check{Name: "python3"}
	sympy := Check{Name: "sympy"}
	numpy := Check{Name: "numpy"}
	if err := executable(python); err != nil {
		py.Detail = err.Error()
		skip := fmt.Sprintf("not checked: python3 %s unavailable", python)
		sympy.Detail, numpy.Detail = skip, skip
		return []Check{py, sympy, numpy}
	}
	if out, err := runCmd(ctx, cmdTimeout, python, "--version"); err != nil {
		py.Detail = fmt.Sprintf("%s --version: %v", python, err)
	} else {
		py.OK = true
		py.Detail = fmt.Sprintf("%s (%s)", firstLine(out), python)
	}
	pyModule := func(c *Check, code, what, note string) {
		out, err := runCmd(ctx, cmdTimeout, python, "-c", code)
		if err != nil {
			c.Detail = fmt.Sprintf("%s: %v (%s%s)", what, err, python, note)
			return
		}
		c.OK = true
		c.Detail = fmt.Sprintf("%s (%s%s)", firstLine(out), python, note)
	}
	pyModule(&sympy, "import sympy, mpmath; print('sympy', sympy.__version__, 'mpmath', mpmath.__version__)", "import sympy, mpmath", "")
	pyModule(&numpy, "import numpy; print('numpy', numpy.__version__)", "import numpy", "; optional")
	return []Check{py, sympy, numpy}
}

// probeJulia checks the configured julia, or the one on PATH.
func probeJulia(ctx context.Context, julia string) Check {
	c := Check{Name: "julia"}
	if julia == "" {
		p, err := exec.LookPath("julia")
		if err != nil {
			c.Detail = `not found on PATH (set runtime "julia" settings.interpreter)`
			return c
		}
		julia = p
	} else if err := executable(julia); err != nil {
		c.Detail = err.Error() + ` (check runtime "julia" settings.interpreter)`
		return c
	}
	out, err := runCmd(ctx, cmdTimeout, julia, "--version")
	if err != nil {
		c.Detail = fmt.Sprintf("%s --version: %v", julia, err)
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("%s (%s)", firstLine(out), julia)
	return c
}

// probeNode checks node, used by the example JavaScript runtime.
func probeNode(ctx context.Context) Check {
	c := Check{Name: "node"}
	node, err := exec.LookPath("node")
	if err != nil {
		c.Detail = "not found on PATH (only the example JavaScript runtime needs it)"
		return c
	}
	out, err := runCmd(ctx, cmdTimeout, node, "--version")
	if err != nil {
		c.Detail = fmt.Sprintf("%s --version: %v", node, err)
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("node %s (%s)", firstLine(out), node)
	return c
}

// probeContainerd returns the "containerd" check (the socket accepts a
// connection; the binary's version when installed) and the "runc" check.
func probeContainerd(ctx context.Context, socket string) []Check {
	cd := Check{Name: "containerd"}
	var parts []string
	fi, err := os.Stat(socket)
	switch {
	case err != nil && os.IsNotExist(err):
		parts = append(parts, fmt.Sprintf("socket %s: not found", socket))
	case err != nil:
		parts = append(parts, fmt.Sprintf("socket %s: %v", socket, err))
	case fi.Mode()&os.ModeSocket == 0:
		parts = append(parts, fmt.Sprintf("%s: not a socket (%s)", socket, fi.Mode().Type()))
	default:
		d := net.Dialer{Timeout: 2 * time.Second}
		conn, derr := d.DialContext(ctx, "unix", socket)
		if derr != nil {
			parts = append(parts, fmt.Sprintf("socket %s: %s", socket, errnoText(derr)))
		} else {
			conn.Close()
			// A socket that accepts connections may still not be containerd:
			// ask for its version through the client the backend uses.
			if v, err := containerdVersion(ctx, socket); err != nil {
				parts = append(parts, fmt.Sprintf("socket %s accepts connections but does not answer as containerd: %v", socket, err))
			} else {
				cd.OK = true
				parts = append(parts, fmt.Sprintf("containerd %s answers on %s", v, socket))
			}
		}
	}
	if bin, err := exec.LookPath("containerd"); err != nil {
		parts = append(parts, "containerd binary not found on PATH")
	} else if out, err := runCmd(ctx, cmdTimeout, bin, "--version"); err != nil {
		parts = append(parts, fmt.Sprintf("%s --version: %v", bin, err))
	} else {
		parts = append(parts, firstLine(out))
	}
	if rts := shimRuntimes(); len(rts) > 0 {
		parts = append(parts, "runtimes (shims on PATH): "+strings.Join(rts, ", "))
	} else {
		parts = append(parts, "no containerd-shim-* on PATH")
	}
	cd.Detail = strings.Join(parts, "; ")
	if !cd.OK {
		cd.Fallback = "native sandbox only"
	}

	rs := Check{Name: "runsc", Fallback: "io.containerd.runc.v2 (runc) only"}
	if bin, err := exec.LookPath("runsc"); err != nil {
		rs.Detail = "gVisor's runsc not found on PATH (optional: a stronger boundary for the containerd backend)"
	} else if out, err := runCmd(ctx, cmdTimeout, bin, "--version"); err != nil {
		rs.Detail = fmt.Sprintf("%s --version: %v", bin, err)
	} else {
		rs.OK, rs.Fallback = true, ""
		rs.Detail = fmt.Sprintf("%s (%s)", firstLine(out), bin)
	}

	rc := Check{Name: "runc"}
	if bin, err := exec.LookPath("runc"); err != nil {
		rc.Detail = "not found on PATH"
	} else if out, err := runCmd(ctx, cmdTimeout, bin, "--version"); err != nil {
		rc.Detail = fmt.Sprintf("%s --version: %v", bin, err)
	} else {
		rc.OK = true
		rc.Detail = fmt.Sprintf("%s (%s)", firstLine(out), bin)
	}
	return []Check{cd, rc, rs}
}

// shimRuntimes names the runtimes whose shims are on PATH, as retool.hcl
// writes them: containerd-shim-runc-v2 is io.containerd.runc.v2. (The
// daemon finds shims on its own PATH, which may differ.)
func shimRuntimes() []string {
	var out []string
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		matches, _ := filepath.Glob(filepath.Join(dir, "containerd-shim-*-v*"))
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				continue
			}
			name := strings.TrimPrefix(filepath.Base(m), "containerd-shim-")
			i := strings.LastIndex(name, "-v")
			if i <= 0 {
				continue
			}
			rt := "io.containerd." + name[:i] + "." + name[i+1:]
			if !seen[rt] {
				seen[rt] = true
				out = append(out, rt)
			}
		}
	}
	sort.Strings(out)
	return out
}

// containerdVersion asks the daemon on socket for its version.
func containerdVersion(ctx context.Context, socket string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := containerd.Connect(ctx, containerd.Config{Socket: socket})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Version(ctx)
}
