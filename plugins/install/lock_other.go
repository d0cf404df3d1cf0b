//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package install

import (
	"context"
)

// crossProcessLock is false here: only installs within this process are serialised.
const crossProcessLock = false

var processLock = make(chan struct{}, 1)

func lockRoot(ctx context.Context, _ string) (func(), error) {
	select {
	case processLock <- struct{}{}:
		return func() { <-processLock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
