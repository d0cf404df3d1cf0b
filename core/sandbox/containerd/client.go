package containerd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	runcopts "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Defaults used for the zero fields of Config.
const (
	DefaultSocket      = "/run/containerd/containerd.sock"
	DefaultNamespace   = "retool"
	DefaultSnapshotter = "overlayfs"
	DefaultRuntime     = "io.containerd.runc.v2"
	DefaultStateDir    = "/run/retool/containerd"
)

// Config says which containerd to use and how.
type Config struct {
	// Socket is the absolute path of containerd's gRPC socket.
	Socket string
	// Namespace isolates retool's images and containers from other
	// containerd users.
	Namespace string
	// Snapshotter unpacks the image and creates each run's rootfs view.
	Snapshotter string
	// Runtime is the shim runtime: runc's (the default) or another one
	// containerd knows, such as gVisor's io.containerd.runsc.v1. Only runc
	// has run here; runsc is not installable on these machines.
	Runtime string
	// StateDir holds runc's state (runc/) and the stdio FIFOs (fifo/),
	// which otherwise land under /run/containerd.
	StateDir string
}

func (c Config) withDefaults() Config {
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Snapshotter == "" {
		c.Snapshotter = DefaultSnapshotter
	}
	if c.Runtime == "" {
		c.Runtime = DefaultRuntime
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	return c
}

// Client is a connection to containerd bound to one namespace. It is safe
// for concurrent use.
type Client struct {
	cfg Config
	c   *containerd.Client
}

// Connect checks that the socket answers and returns a client for
// cfg.Namespace.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if !filepath.IsAbs(cfg.Socket) {
		// Relative paths are misparsed as URL authorities by the dialer.
		return nil, fmt.Errorf("containerd: socket path %q is not absolute", cfg.Socket)
	}
	// grpc.NewClient dials lazily and retries for long, so a missing
	// daemon would otherwise surface as a timeout on the first call.
	if err := probe(ctx, cfg.Socket); err != nil {
		return nil, err
	}
	c, err := containerd.New(cfg.Socket, containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		return nil, fmt.Errorf("containerd: connect unix://%s: %w", cfg.Socket, err)
	}
	return &Client{cfg: cfg, c: c}, nil
}

// probe dials the socket once and turns the common failures into a
// one-line hint.
func probe(ctx context.Context, socket string) error {
	prefix := "containerd: connect unix://" + socket
	if _, err := os.Stat(socket); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such socket; is containerd running?", prefix)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", socket)
	switch {
	case err == nil:
		return conn.Close()
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: permission denied; run as root or as a member of the socket's group", prefix)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused; is containerd running?", prefix)
	default:
		return fmt.Errorf("%s: %w", prefix, err)
	}
}

// Close closes the connection; it does not stop running tasks.
func (c *Client) Close() error {
	if err := c.c.Close(); err != nil {
		return fmt.Errorf("containerd: close: %w", err)
	}
	return nil
}

// Version returns the daemon's version, e.g. "v2.4.2".
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.c.Version(c.ns(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd: version: %w", err)
	}
	return v.Version, nil
}

// runtime picks the shim runtime. runc's options keep its state out of
// /run/containerd/runc/<namespace>; other shims (runsc's) take their own
// options from containerd's config and get none from here.
func (c *Client) runtime() containerd.NewContainerOpts {
	if c.cfg.Runtime == DefaultRuntime {
		return containerd.WithRuntime(c.cfg.Runtime, &runcopts.Options{Root: filepath.Join(c.cfg.StateDir, "runc")})
	}
	return containerd.WithRuntime(c.cfg.Runtime, nil)
}

// ns puts the client's namespace on ctx: the default namespace option
// covers gRPC calls, but client-side helpers read it from the context.
func (c *Client) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.cfg.Namespace)
}

// Leaks counts what runs may leave behind in the namespace.
type Leaks struct {
	Containers int
	Tasks      int
	Leases     int
	// Snapshots counts active and view snapshots; committed ones are
	// unpacked image layers and expected to stay.
	Snapshots int
}

// Zero reports whether nothing leaked.
func (l Leaks) Zero() bool { return l == Leaks{} }

// Leaks counts containers, tasks, leases and non-committed snapshots in
// the namespace. It is meant for tests and health checks: once every
// worker is closed, all counts should be zero.
func (c *Client) Leaks(ctx context.Context) (Leaks, error) { return c.LeaksOf(ctx, "") }

// LeaksOf is Leaks restricted to containers, tasks and snapshots whose
// id holds part (one pool's workers, named after it); leases have no
// owner to tell, so all are counted.
func (c *Client) LeaksOf(ctx context.Context, part string) (Leaks, error) {
	ctx = c.ns(ctx)
	var l Leaks
	cs, err := c.c.Containers(ctx)
	if err != nil {
		return l, fmt.Errorf("containerd: list containers: %w", err)
	}
	for _, ctr := range cs {
		if strings.Contains(ctr.ID(), part) {
			l.Containers++
		}
	}
	ts, err := c.c.TaskService().List(ctx, nil)
	if err != nil {
		return l, fmt.Errorf("containerd: list tasks: %w", err)
	}
	for _, t := range ts.Tasks {
		if strings.Contains(t.ID, part) {
			l.Tasks++
		}
	}
	ls, err := c.c.LeasesService().List(ctx)
	if err != nil {
		return l, fmt.Errorf("containerd: list leases: %w", err)
	}
	l.Leases = len(ls)
	err = c.c.SnapshotService(c.cfg.Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind != snapshots.KindCommitted && strings.Contains(info.Name, part) {
			l.Snapshots++
		}
		return nil
	})
	if err != nil {
		return l, fmt.Errorf("containerd: list snapshots: %w", err)
	}
	return l, nil
}
