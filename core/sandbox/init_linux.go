package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// initArg is argv[0] of a binary re-executed as a sandbox's init: any
// binary that links this package can serve (the runtime plugins do).
const initArg = "retool-sandbox-init"

// initConfig travels from the host to the init on fd 3 as JSON.
type initConfig struct {
	Root          string
	Path          string
	Args          []string
	Env           []string
	Files         map[string][]byte
	ReadOnlyPaths []string
	WorkDirBytes  int64
	AllowNetwork  bool
	NewMountNS    bool
	ExtraFiles    int
	// StdioFromExtra makes the first three extra files the program's
	// stdin, stdout and stderr (one-shot interpreters write there).
	StdioFromExtra bool
	// UID, when >= 0, is the user the program runs as (no capabilities).
	UID int
}

// WorkDirInodes bounds the files on /work and /tmp: without it, empty files
// cost no bytes against size= but pin kernel memory until the worker dies.
const WorkDirInodes = 16384

// DefaultWorkDirBytes sizes /work and /tmp when a Spec leaves it zero.
const DefaultWorkDirBytes = 64 << 20

// systemPaths are bound read-only into every sandbox: what an
// interpreter needs to start. /etc is included for ld.so.cache, locale
// and timezone data; files unreadable to the mapped users stay so.
var systemPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// workerCaps are the capabilities the worker's program keeps: enough to
// fork children that switch to the unprivileged execution user, prepare
// and remove their work directories, and remove what they leave behind;
// each named as an OCI spec writes it.
var workerCaps = map[uintptr]string{
	unix.CAP_SETUID: "CAP_SETUID", unix.CAP_SETGID: "CAP_SETGID", unix.CAP_KILL: "CAP_KILL",
	unix.CAP_CHOWN: "CAP_CHOWN", unix.CAP_DAC_OVERRIDE: "CAP_DAC_OVERRIDE", unix.CAP_FOWNER: "CAP_FOWNER",
	unix.CAP_DAC_READ_SEARCH: "CAP_DAC_READ_SEARCH",
	// To empty a child's bounding set before it runs user code.
	unix.CAP_SETPCAP: "CAP_SETPCAP",
}

func init() {
	if len(os.Args) > 0 && os.Args[0] == initArg {
		runInit()
	}
	if len(os.Args) > 0 && os.Args[0] == ContainerInitPath {
		runContainerInit()
	}
}

// runInit is pid 1 of a worker's namespaces. It builds the root file
// system, drops what the worker must not have, starts the program and
// reaps every orphan until the program exits. It never returns.
func runInit() {
	runtime.LockOSThread() // capability bounding set and no_new_privs are per thread
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "sandbox init: %v\n", err)
		os.Exit(127)
	}
	cfgFile := os.NewFile(3, "config")
	var c initConfig
	if err := json.NewDecoder(cfgFile).Decode(&c); err != nil {
		fail(fmt.Errorf("read config: %w", err))
	}
	cfgFile.Close()
	// Outside a pid namespace orphans would escape to the host's init.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	if c.NewMountNS {
		if err := buildRoot(&c); err != nil {
			fail(err)
		}
		if !c.AllowNetwork {
			if err := loopbackUp(); err != nil {
				fail(err)
			}
		}
		_ = unix.Sethostname([]byte("sandbox"))
	}
	var extra []*os.File
	for i := 0; i < c.ExtraFiles; i++ {
		extra = append(extra, os.NewFile(uintptr(4+i), "extra"+strconv.Itoa(i)))
	}
	dir := "/work"
	if !c.NewMountNS {
		dir = c.Root
	}
	proc, err := launch(&c, extra, dir)
	if err != nil {
		fail(err)
	}
	reap(proc.Pid)
}

// launch drops what the program must not have (capabilities beyond
// workerCaps, the syscalls of the seccomp policy), then starts it with
// extra as its descriptors from fd 3 (or 0-2, see StdioFromExtra).
func launch(c *initConfig, extra []*os.File, dir string) (*os.Process, error) {
	if err := dropPrivileges(); err != nil {
		return nil, err
	}
	if err := loadSeccomp(); err != nil {
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	files := []*os.File{devnull, os.Stderr, os.Stderr}
	if c.StdioFromExtra && len(extra) >= 3 {
		files, extra = extra[:3], extra[3:]
	}
	files = append(files, extra...)
	sys := &syscall.SysProcAttr{Setsid: true}
	if c.UID >= 0 {
		sys.Credential = &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.UID), NoSetGroups: true}
	}
	// Only the files listed reach the program: everything else this init
	// inherited (the extra files' original numbers included) is closed at exec.
	if err := closeOnExecFrom(3); err != nil {
		return nil, fmt.Errorf("mark descriptors close-on-exec: %w", err)
	}
	proc, err := os.StartProcess(c.Path, c.Args, &os.ProcAttr{Dir: dir, Env: c.Env, Files: files, Sys: sys})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	for _, f := range files {
		if f != os.Stderr {
			f.Close()
		}
	}
	return proc, nil
}

// closeOnExecFrom marks every descriptor from min up close-on-exec:
// close_range where the kernel has its CLOEXEC flag (5.11), else one by
// one from /proc/self/fd (older kernels, gVisor).
func closeOnExecFrom(min int) error {
	err := unix.CloseRange(uint(min), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err != unix.EINVAL && err != unix.ENOSYS {
		return err
	}
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	for _, e := range entries {
		fd, cerr := strconv.Atoi(e.Name())
		if cerr != nil || fd < min {
			continue
		}
		// The directory's own descriptor is gone by now: EBADF is fine.
		if _, ferr := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); ferr != nil && ferr != unix.EBADF {
			return ferr
		}
	}
	return nil
}

// reap waits for every child; when the worker's program exits, init exits
// with its status and the kernel kills what is left in the namespace.
func reap(main int) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			os.Exit(126)
		}
		if pid == main {
			switch {
			case ws.Exited():
				os.Exit(ws.ExitStatus())
			case ws.Signaled():
				os.Exit(128 + int(ws.Signal()))
			}
			os.Exit(125)
		}
	}
}

func buildRoot(c *initConfig) error {
	root := c.Root
	limitNamespace()
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=8m,nr_inodes=4096,mode=0755"); err != nil {
		return fmt.Errorf("mount root tmpfs: %w", err)
	}
	for _, p := range systemPaths {
		if err := bindReadOnly(p, root, true); err != nil {
			return err
		}
	}
	for _, p := range c.ReadOnlyPaths {
		if err := bindReadOnly(p, root, false); err != nil {
			return err
		}
	}
	if err := mountProc(root); err != nil {
		return err
	}
	if err := mountDev(root); err != nil {
		return err
	}
	// POSIX message queues of the worker's IPC namespace, visible so that
	// the fork server can empty them between executions.
	mq := filepath.Join(root, "dev", "mqueue")
	if err := os.Mkdir(mq, 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("mqueue", mq, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /dev/mqueue: %w", err)
	}
	size := c.WorkDirBytes
	if size <= 0 {
		size = DefaultWorkDirBytes
	}
	for _, m := range []struct{ dir, mode string }{{"tmp", "1777"}, {"work", "0755"}} {
		target := filepath.Join(root, m.dir)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		opts := fmt.Sprintf("size=%d,nr_inodes=%d,mode=%s", size, WorkDirInodes, m.mode)
		if m.dir == "work" && c.UID >= 0 {
			// One-shot interpreters run as the execution user directly.
			opts += fmt.Sprintf(",uid=%d,gid=%d", c.UID, c.UID)
		}
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount /%s: %w", m.dir, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, ".retool"), 0o755); err != nil {
		return err
	}
	for name, data := range c.Files {
		if strings.Contains(name, "/") || name == ".." {
			return fmt.Errorf("driver file name %q must be a plain name", name)
		}
		if err := os.WriteFile(filepath.Join(root, ".retool", name), data, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount root read-only: %w", err)
	}
	return nil
}

// namespaceLimits cap what a worker's user namespace may create. Kernel
// objects counted per user (inotify instances, namespaces) are charged to
// the namespace's creator as well — host root when retool runs as root —
// so without these one sandbox could use up root's own quota.
var namespaceLimits = map[string]string{
	"max_inotify_instances": "8", "max_inotify_watches": "8192",
	"max_fanotify_groups": "0", "max_fanotify_marks": "0",
	"max_user_namespaces": "0", "max_mnt_namespaces": "0", "max_pid_namespaces": "0",
	"max_net_namespaces": "0", "max_ipc_namespaces": "0", "max_uts_namespaces": "0",
	"max_cgroup_namespaces": "0", "max_time_namespaces": "0",
}

// limitNamespace writes the limits for the calling process's user
// namespace (the user.* sysctls are per namespace). Keys an older kernel
// lacks are skipped.
func limitNamespace() {
	for k, v := range namespaceLimits {
		_ = os.WriteFile("/proc/sys/user/"+k, []byte(v), 0)
	}
}

// bindReadOnly makes host path p visible read-only at the same place
// under root; symlinks (merged /usr) are recreated as symlinks.
func bindReadOnly(p, root string, optional bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		if optional && os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("read-only path %s: %w", p, err)
	}
	target := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return os.Symlink(link, target)
	case fi.IsDir():
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	default:
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			return err
		}
	}
	if err := unix.Mount(p, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", p, err)
	}
	return remountReadOnly(p, target)
}

// remountReadOnly keeps the flags the kernel locked on the source mount
// (nosuid, nodev, noexec, atime): a remount that drops them is refused
// inside a user namespace.
func remountReadOnly(src, target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(src, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	for st_, ms := range map[int64]uintptr{
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_NOATIME: unix.MS_NOATIME,
		unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME,
	} {
		if st.Flags&st_ != 0 {
			flags |= ms
		}
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", src, err)
	}
	return nil
}

func mountProc(root string) error {
	target := filepath.Join(root, "proc")
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	// As runc does: hide kernel state that leaks host details. Missing
	// entries differ between kernels, so failures here are not fatal.
	for _, p := range []string{"kcore", "keys", "timer_list", "sched_debug", "latency_stats"} {
		_ = unix.Mount("/dev/null", filepath.Join(target, p), "", unix.MS_BIND, "")
	}
	for _, p := range []string{"sys", "sysrq-trigger", "irq", "bus", "fs"} {
		path := filepath.Join(target, p)
		if unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, "") == nil {
			_ = unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}
	}
	return nil
}

func mountDev(root string) error {
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom"} {
		target := filepath.Join(dev, d)
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	for name, link := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(link, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=16m,nr_inodes=1024,mode=1777"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring loopback up: %w", err)
	}
	return nil
}

// dropPrivileges clears supplementary groups and shrinks the bounding set
// so that the program, started as root of the user namespace, holds only
// workerCaps.
func dropPrivileges() error {
	if err := unix.Setgroups(nil); err != nil && err != unix.EPERM {
		return fmt.Errorf("clear groups: %w", err)
	}
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if _, keep := workerCaps[uintptr(c)]; keep {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	return nil
}
