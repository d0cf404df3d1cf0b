//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// crossProcessLock reports that lockRoot excludes other processes too (so stale staging dirs may be swept).
const crossProcessLock = true

// lockRoot takes an exclusive flock on Root/.lock, polling so that ctx can cancel the wait.
func lockRoot(ctx context.Context, root string) (func(), error) {
	path := filepath.Join(root, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock plugin directory: %w", err)
	}
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock plugin directory %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock on %s: %w", path, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}
