package host

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statusField returns the value of "Key:" in /proc/<pid>/status content.
func statusField(r io.Reader, key string) (string, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// parseKernelVersion extracts major and minor from a uname release such as
// "6.18.44-fc-v669" or "3.10.0-1160.el7.x86_64".
func parseKernelVersion(release string) (major, minor int, err error) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("kernel release %q: no major.minor", release)
	}
	if major, err = strconv.Atoi(parts[0]); err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: %w", release, err)
	}
	digits := parts[1]
	if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = digits[:i]
	}
	if minor, err = strconv.Atoi(digits); err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: %w", release, err)
	}
	return major, minor, nil
}

var seccompModes = map[string]string{"0": "disabled", "1": "strict", "2": "filter"}

// allowAll is a one-instruction BPF program: return SECCOMP_RET_ALLOW. It
// lives in a package variable so the pointer handed to the kernel is stable.
var allowAll = [1]unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}

type scratchResult struct{ nnp, filter error }

// scratchThreadTest sets no_new_privs and installs the allow-all filter on a
// dedicated OS thread that is then thrown away. Both are per-thread
// attributes and the filter is installed without SECCOMP_FILTER_FLAG_TSYNC,
// so nothing reaches the other threads. The goroutine exits while still
// locked to its thread, which makes the Go runtime terminate that thread
// (and it never clones new threads from a locked one). The main thread is
// the exception, it is parked instead of terminated, so it is never used.
func scratchThreadTest() (nnpErr, filterErr error) {
	ch := make(chan scratchResult, 1)
	go scratchThread(ch, true)
	r := <-ch
	return r.nnp, r.filter
}

func scratchThread(ch chan<- scratchResult, mayDelegate bool) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// On the main thread. While this goroutine holds it locked, a new
		// goroutine necessarily runs on another thread.
		if !mayDelegate {
			runtime.UnlockOSThread()
			err := fmt.Errorf("not tried: no thread other than the main thread")
			ch <- scratchResult{err, err}
			return
		}
		inner := make(chan scratchResult, 1)
		go scratchThread(inner, false)
		r := <-inner
		runtime.UnlockOSThread()
		ch <- r
		return
	}
	// No UnlockOSThread from here on, deliberately: see scratchThreadTest.
	var r scratchResult
	defer func() { ch <- r }()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		r.nnp = fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %s", errnoText(err))
		r.filter = fmt.Errorf("not tried: no_new_privs unavailable")
		return
	}
	if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || v != 1 {
		r.nnp = fmt.Errorf("PR_GET_NO_NEW_PRIVS after set = %d (%v)", v, err)
	}
	prog := unix.SockFprog{Len: uint16(len(allowAll)), Filter: &allowAll[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		r.filter = fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %s", errnoText(errno))
		return
	}
	if mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil || mode != 2 {
		r.filter = fmt.Errorf("PR_GET_SECCOMP after filter = %d (%v)", mode, err)
	}
}

// probeSeccomp returns the "seccomp" and "no_new_privs" checks.
func probeSeccomp() []Check {
	sc := Check{Name: "seccomp"}
	nnp := Check{Name: "no_new_privs"}

	var parts []string
	fieldOK := false
	if f, err := os.Open("/proc/self/status"); err != nil {
		parts = append(parts, "/proc/self/status: "+err.Error())
	} else {
		v, ok := statusField(f, "Seccomp")
		f.Close()
		if ok {
			fieldOK = true
			mode := seccompModes[v]
			if mode == "" {
				mode = "unknown"
			}
			parts = append(parts, fmt.Sprintf("status Seccomp=%s (%s)", v, mode))
		} else {
			parts = append(parts, "no Seccomp field in /proc/self/status (kernel without CONFIG_SECCOMP)")
		}
	}
	prctlOK := false
	if mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		parts = append(parts, "prctl(PR_GET_SECCOMP): "+errnoText(err))
	} else {
		prctlOK = true
		parts = append(parts, fmt.Sprintf("PR_GET_SECCOMP=%d", mode))
	}

	nnpErr, filterErr := scratchThreadTest()
	if filterErr != nil {
		parts = append(parts, "filter: "+filterErr.Error())
	} else {
		parts = append(parts, "allow-all filter accepted on a scratch thread")
	}
	sc.OK = fieldOK && prctlOK && filterErr == nil
	sc.Detail = strings.Join(parts, "; ")

	var u unix.Utsname
	release := ""
	if err := unix.Uname(&u); err == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	major, minor, verr := parseKernelVersion(release)
	var nparts []string
	kernelOK := verr == nil && (major > 3 || major == 3 && minor >= 5)
	switch {
	case verr != nil:
		nparts = append(nparts, verr.Error())
	case kernelOK:
		nparts = append(nparts, fmt.Sprintf("kernel %d.%d >= 3.5", major, minor))
	default:
		nparts = append(nparts, fmt.Sprintf("kernel %d.%d < 3.5", major, minor))
	}
	if nnpErr != nil {
		nparts = append(nparts, nnpErr.Error())
	} else {
		nparts = append(nparts, "PR_SET_NO_NEW_PRIVS accepted on a scratch thread")
	}
	nnp.OK = kernelOK && nnpErr == nil
	nnp.Detail = strings.Join(nparts, "; ")
	return []Check{sc, nnp}
}
