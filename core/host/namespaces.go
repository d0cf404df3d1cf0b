package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

type namespaceKind struct {
	name     string // check name
	flag     uintptr
	flagName string
}

var namespaceKinds = []namespaceKind{
	{"user namespaces", unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{"pid namespaces", unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{"net namespaces", unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{"mount namespaces", unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{"ipc namespaces", unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{"uts namespaces", unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
}

// probeNamespaces starts /bin/true once per namespace type with only that
// clone flag (plus a 0 → own uid/gid mapping for the user namespace). A
// namespace is OK when the child starts and exits 0.
func probeNamespaces(ctx context.Context) []Check {
	trueBin := "/bin/true"
	if _, err := os.Stat(trueBin); err != nil {
		if p, err := exec.LookPath("true"); err == nil {
			trueBin = p
		}
	}
	checks := make([]Check, 0, len(namespaceKinds))
	userOK := false
	for _, ns := range namespaceKinds {
		c := Check{Name: ns.name}
		err := runInNamespace(ctx, trueBin, ns.flag)
		if err == nil {
			c.OK = true
			c.Detail = fmt.Sprintf("clone(%s) ok", ns.flagName)
		} else {
			c.Detail = fmt.Sprintf("clone(%s): %s", ns.flagName, errnoText(err))
		}
		if ns.flag == unix.CLONE_NEWUSER {
			userOK = c.OK
			c.Detail += "; " + userNamespaceSysctls()
		} else if !c.OK && userOK {
			// Unprivileged hosts can still get this namespace nested in a
			// new user namespace.
			if runInNamespace(ctx, trueBin, ns.flag|unix.CLONE_NEWUSER) == nil {
				c.Fallback = "works inside a new user namespace"
			}
		}
		checks = append(checks, c)
	}
	return checks
}

func runInNamespace(ctx context.Context, bin string, flags uintptr) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	attr := &syscall.SysProcAttr{Cloneflags: flags}
	if flags&unix.CLONE_NEWUSER != 0 {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("timed out after %s", cmdTimeout)
	}
	return err
}

// userNamespaceSysctls reports the sysctls that gate user namespaces.
func userNamespaceSysctls() string {
	parts := []string{}
	if v, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil {
		parts = append(parts, "max_user_namespaces="+strings.TrimSpace(string(v)))
	} else {
		parts = append(parts, "max_user_namespaces unreadable")
	}
	if v, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil {
		parts = append(parts, "unprivileged_userns_clone="+strings.TrimSpace(string(v)))
	}
	return strings.Join(parts, ", ")
}
