package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// ContainerInitPath is where a container backend mounts the plugin binary
// (read-only) and what it runs as the container's process. A container
// runtime starts its process itself, so the worker's descriptors cannot
// be inherited as they are by the native init: the init connects to the
// socket named by its first argument and receives them there.
const ContainerInitPath = "/.retool-init"

// maxHandOff bounds the config message; driver files travel by mount.
const maxHandOff = 1 << 20

// handOff is the init's config: the native init's, minus what the
// container runtime already did.
type handOff struct {
	Path           string
	Args           []string
	Env            []string
	StdioFromExtra bool
	UID            int
	// HasStderr: the last descriptor received becomes the init's and the
	// program's stderr (driver diagnostics reach the host directly).
	HasStderr bool
}

// HandOff accepts the container init's connection on ln, sends it spec's
// program with spec.ExtraFiles and spec.Stderr, and waits until the init
// reports that the program started. Its error says why not (for example
// "start /usr/bin/python3: no such file or directory": an image without
// the interpreter).
func HandOff(ctx context.Context, ln *net.UnixListener, spec Spec) error {
	if d, ok := ctx.Deadline(); ok {
		_ = ln.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.SetDeadline(time.Now()) })
	defer stop()
	conn, err := ln.AcceptUnix()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("container init did not connect: %w", ctx.Err())
		}
		return fmt.Errorf("container init did not connect: %w", err)
	}
	defer conn.Close()
	stop2 := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop2()
	msg := handOff{Path: spec.Path, Args: spec.Args, Env: spec.Env, StdioFromExtra: spec.StdioFromExtra,
		UID: spec.UID, HasStderr: spec.Stderr != nil}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if len(b) > maxHandOff {
		return fmt.Errorf("container init config is %d bytes (max %d)", len(b), maxHandOff)
	}
	fds := make([]int, 0, len(spec.ExtraFiles)+1)
	for _, f := range spec.ExtraFiles {
		fds = append(fds, int(f.Fd()))
	}
	if spec.Stderr != nil {
		fds = append(fds, int(spec.Stderr.Fd()))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("send config to container init: %w", err)
	}
	runtime.KeepAlive(spec.ExtraFiles)
	reply := make([]byte, 4096)
	n, err := conn.Read(reply)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("container init did not answer: %w", ctx.Err())
		}
		return fmt.Errorf("container init exited before starting the program: %w", err)
	}
	if r := string(reply[:n]); r != "ok" {
		return errors.New(r)
	}
	return nil
}

// runContainerInit is pid 1 of a container: it receives the program over
// the socket at os.Args[1], drops what the worker must not have, starts
// it, reports back and reaps until the program exits. It never returns.
func runContainerInit() {
	runtime.LockOSThread() // capability bounding set and no_new_privs are per thread
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "container init: %v\n", err)
		os.Exit(127)
	}
	if len(os.Args) < 2 {
		fail(errors.New("usage: " + ContainerInitPath + " SOCKET"))
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fail(fmt.Errorf("socket: %w", err))
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: os.Args[1]}); err != nil {
		fail(fmt.Errorf("connect %s: %w", os.Args[1], err))
	}
	buf := make([]byte, maxHandOff)
	oob := make([]byte, unix.CmsgSpace(4*64))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		fail(fmt.Errorf("receive config: %w", err))
	}
	var c handOff
	if err := json.Unmarshal(buf[:n], &c); err != nil {
		fail(fmt.Errorf("read config: %w", err))
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			fail(fmt.Errorf("read descriptors: %w", err))
		}
		for _, m := range msgs {
			rights, err := unix.ParseUnixRights(&m)
			if err != nil {
				fail(fmt.Errorf("read descriptors: %w", err))
			}
			fds = append(fds, rights...)
		}
	}
	report := func(err error) {
		msg := "ok"
		if err != nil {
			msg = err.Error()
		}
		_, _ = unix.Write(fd, []byte(msg))
		unix.Close(fd)
		if err != nil {
			os.Exit(127)
		}
	}
	if c.HasStderr {
		if len(fds) == 0 {
			report(errors.New("container init: stderr announced but not received"))
		}
		if err := unix.Dup3(fds[len(fds)-1], 2, 0); err != nil {
			report(fmt.Errorf("container init: stderr: %w", err))
		}
		unix.Close(fds[len(fds)-1])
		fds = fds[:len(fds)-1]
	}
	extra := make([]*os.File, len(fds))
	for i, f := range fds {
		extra[i] = os.NewFile(uintptr(f), fmt.Sprintf("extra%d", i))
	}
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	proc, err := launch(&initConfig{Path: c.Path, Args: c.Args, Env: c.Env,
		StdioFromExtra: c.StdioFromExtra, UID: c.UID}, extra, "/work")
	report(err)
	reap(proc.Pid)
}

// WorkerCapabilities names the capabilities a worker's init keeps, as an
// OCI spec writes them ("CAP_SETUID", ...).
func WorkerCapabilities() []string {
	out := make([]string, 0, len(workerCaps))
	for _, name := range workerCaps {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
