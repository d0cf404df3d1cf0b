package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every external command Probe runs.
const cmdTimeout = 5 * time.Second

// runCmd runs name with args, stdin from /dev/null, and returns its trimmed
// stdout (or stderr when stdout is empty, as for old `python --version`).
// The command is killed after timeout; the error then says so. On failure the
// error carries the last non-empty line of stderr.
func runCmd(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// If the child leaves a grandchild holding the pipes, don't wait forever.
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := strings.TrimSpace(stdout.String())
	if out == "" && err == nil {
		out = strings.TrimSpace(stderr.String())
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return out, fmt.Errorf("%s: timed out after %s", name, timeout)
		}
		if ctx.Err() != nil {
			return out, fmt.Errorf("%s: %w", name, ctx.Err())
		}
		if last := lastLine(stderr.String()); last != "" {
			return out, fmt.Errorf("%w: %s", err, last)
		}
		return out, err
	}
	return out, nil
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// errnoText renders an error from fork/exec or a syscall as "EPERM
// (operation not permitted)" when an errno is inside, else err.Error().
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return fmt.Sprintf("%s (%s)", name, errno.Error())
		}
		return errno.Error()
	}
	return err.Error()
}
