package sandbox

import (
	"fmt"
	"slices"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls are refused with EPERM inside every sandbox: the calls
// that change mounts, namespaces, kernel state or let one process read or
// write another's memory.
var deniedSyscalls = []string{
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"unshare", "setns",
	"ptrace", "process_vm_readv", "process_vm_writev",
	"kexec_load", "kexec_file_load", "reboot",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"init_module", "finit_module", "delete_module",
	"swapon", "swapoff", "acct", "quotactl", "syslog",
	"open_by_handle_at", "name_to_handle_at",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"iopl", "ioperm", "lookup_dcookie",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
}

// DeniedSyscalls returns the calls every sandbox refuses with EPERM, for
// backends that also write the policy into an OCI spec.
func DeniedSyscalls() []string { return slices.Clone(deniedSyscalls) }

// NamespaceCloneFlags are the clone flags every sandbox refuses.
const NamespaceCloneFlags = namespaceCloneFlags

const namespaceCloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP

// policy is the seccomp filter of a worker: allow by default, deny the
// list above, refuse clone with namespace flags, and answer clone3 with
// ENOSYS so that libc falls back to clone, whose flags can be inspected.
func policy() seccomp.Policy {
	return seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Names: deniedSyscalls, Action: seccomp.ActionErrno | seccomp.Action(unix.EPERM)},
			{Names: []string{"clone3"}, Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)},
			{
				NamesWithCondtions: []seccomp.NameWithConditions{{
					Name: "clone",
					Conditions: seccomp.ArgumentConditions{{
						Argument: 0, Operation: seccomp.BitsSet, Value: namespaceCloneFlags,
					}},
				}},
				Action: seccomp.ActionErrno | seccomp.Action(unix.EPERM),
			},
		},
	}
}

// program assembles the filter. The library lets a call made through
// another architecture's entry point (int 0x80 on x86_64) fall through to
// the default action, which for a deny list means allowed: so the program
// first kills any call whose architecture is not the native one.
func program() ([]unix.SockFilter, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	p := policy()
	body, err := p.Assemble()
	if err != nil {
		return nil, err
	}
	const archOffset = 4 // offsetof(struct seccomp_data, arch)
	insts := append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
	}, body...)
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, err
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// loadSeccomp sets no_new_privs and installs the filter on every thread
// of the calling process.
func loadSeccomp() error {
	filter, err := program()
	if err != nil {
		return fmt.Errorf("assemble seccomp filter: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("load seccomp filter: %w", errno)
	}
	return nil
}
