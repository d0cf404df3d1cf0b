package sdk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/pool"
	"github.com/retool-rl/retool/core/sandbox"
	"github.com/retool-rl/retool/core/sandbox/containerd"
)

// WarmRuntime is the warm-interpreter helper: give it the runtime's Info
// and a function that describes the driver, and it keeps a pool of
// sandboxed, pre-warmed workers that run each execution in a fresh
// process. A new language is a driver script plus a few lines of Go.
type WarmRuntime struct {
	Meta Info
	// Driver describes the interpreter program given the runtime block's
	// settings from retool.hcl (for example "interpreter").
	Driver func(values map[string]string) (pool.Driver, error)
	Logger hclog.Logger

	mu       sync.Mutex
	closing  sync.Mutex
	pool     *pool.Pool
	sb       sandbox.Sandbox
	set      Settings
	sessions map[string]*pool.Session
}

var _ Runtime = (*WarmRuntime)(nil)

// Info implements Runtime.
func (w *WarmRuntime) Info(context.Context) (Info, error) {
	info := w.Meta
	info.ProtocolVersion = ProtocolVersion
	return info, nil
}

// Configure implements Runtime: it (re)starts the pool with the settings.
func (w *WarmRuntime) Configure(ctx context.Context, s Settings) error {
	if s.PoolSize < 0 {
		return fmt.Errorf("%w: pool size %d is negative", execution.ErrInvalid, s.PoolSize)
	}
	if err := s.DefaultLimits.Validate(); err != nil {
		return fmt.Errorf("%w: %v", execution.ErrInvalid, err)
	}
	values := s.Values
	if values["image"] != "" && s.Sandbox.Backend != "containerd" {
		return fmt.Errorf("%w: %s runtime: settings.image names a container image, which only sandbox.backend = \"containerd\" uses",
			execution.ErrInvalid, w.Meta.Name)
	}
	if img := s.Sandbox.Containerd.Image; s.Sandbox.Backend == "containerd" && img != "" && values["image"] == "" {
		values = maps.Clone(values)
		if values == nil {
			values = map[string]string{}
		}
		values["image"] = img
	}
	demote, err := demoteAfter(values["demote_after"])
	if err != nil {
		return fmt.Errorf("%w: %s runtime: %v", execution.ErrInvalid, w.Meta.Name, err)
	}
	driver, err := w.Driver(values)
	if err != nil {
		return fmt.Errorf("configure %s runtime: %w", w.Meta.Name, err)
	}
	sb, err := newSandbox(ctx, s.Sandbox, values)
	if err != nil {
		return fmt.Errorf("configure %s runtime: %w", w.Meta.Name, err)
	}
	driver.ReadOnlyPaths = append(driver.ReadOnlyPaths, s.Sandbox.ReadOnlyPaths...)
	log := w.Logger
	if log == nil {
		log = hclog.Default()
	}
	p, err := pool.New(ctx, pool.Config{
		Name: w.Meta.Name, Size: s.PoolSize, Sandbox: sb, Driver: driver,
		Defaults: s.DefaultLimits, WorkDirBytes: s.Sandbox.WorkDirBytes,
		AllowNetwork: s.Sandbox.AllowNetwork, Logger: log, DemoteAfter: demote,
	})
	if err != nil {
		closeSandbox(sb)
		return err
	}
	w.mu.Lock()
	old, oldSB := w.pool, w.sb
	w.pool, w.sb, w.set = p, sb, s
	w.mu.Unlock()
	if old != nil {
		old.Close()
		closeSandbox(oldSB)
	}
	return nil
}

// newSandbox builds the backend the settings name; a runtime's "image"
// setting picks its containerd image.
func newSandbox(ctx context.Context, s SandboxSettings, values map[string]string) (sandbox.Sandbox, error) {
	switch s.Backend {
	case "", "native":
		return sandbox.NewNative(true), nil
	case "none":
		return sandbox.NewNative(false), nil
	case "containerd":
		c := s.Containerd
		if img := values["image"]; img != "" {
			c.Image = img
		}
		return containerd.NewSandbox(ctx, containerd.SandboxConfig{Image: c.Image, Config: containerd.Config{
			Socket: c.Socket, Namespace: c.Namespace, Runtime: c.Runtime, Snapshotter: c.Snapshotter,
			StateDir: c.StateDir}})
	}
	return nil, fmt.Errorf("%w: sandbox backend %q is not available in this runtime (native, containerd, none)", execution.ErrInvalid, s.Backend)
}

// closeSandbox releases a backend's connection once its pool is closed.
func closeSandbox(sb sandbox.Sandbox) {
	if c, ok := sb.(io.Closer); ok {
		_ = c.Close()
	}
}

func (w *WarmRuntime) current(ctx context.Context) (*pool.Pool, error) {
	w.mu.Lock()
	p := w.pool
	w.mu.Unlock()
	if p != nil {
		return p, nil
	}
	// Used without Configure (tests, a bare plugin): one native worker.
	if err := w.Configure(ctx, Settings{PoolSize: 1}); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pool, nil
}

// Health implements Runtime.
func (w *WarmRuntime) Health(context.Context) (Health, error) {
	w.mu.Lock()
	p := w.pool
	w.mu.Unlock()
	if p == nil {
		return Health{Ready: true, Message: "not configured; workers start on first use"}, nil
	}
	st := p.Stats()
	h := Health{Ready: st.Total > 0, WorkersReady: st.Ready, WorkersTotal: st.Total,
		Restarts: st.Restarts, Degraded: p.Degraded()}
	if st.LastError != nil {
		h.Message = st.LastError.Error()
	}
	return h, nil
}

// Execute implements Runtime.
func (w *WarmRuntime) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	if req.Language != "" && !slices.Contains(w.Meta.Languages, req.Language) {
		return execution.Result{}, fmt.Errorf("%w: runtime %s does not run language %q", execution.ErrInvalid, w.Meta.Name, req.Language)
	}
	p, err := w.current(ctx)
	if err != nil {
		return execution.Result{}, err
	}
	return p.Execute(ctx, req)
}

// OpenSession implements Runtime for fork-server drivers.
func (w *WarmRuntime) OpenSession(ctx context.Context, language string, limits execution.Limits) (string, error) {
	if language != "" && !slices.Contains(w.Meta.Languages, language) {
		return "", fmt.Errorf("%w: runtime %s does not run language %q", execution.ErrInvalid, w.Meta.Name, language)
	}
	p, err := w.current(ctx)
	if err != nil {
		return "", err
	}
	s, err := p.OpenSession(ctx, limits)
	if err != nil {
		if errors.Is(err, pool.ErrNotForkServer) {
			return "", ErrSessionsNotSupported
		}
		return "", err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	w.mu.Lock()
	if w.sessions == nil {
		w.sessions = map[string]*pool.Session{}
	}
	w.sessions[id] = s
	w.mu.Unlock()
	return id, nil
}

func (w *WarmRuntime) session(id string) (*pool.Session, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	return s, nil
}

// ExecuteInSession implements Runtime.
func (w *WarmRuntime) ExecuteInSession(ctx context.Context, id string, req *execution.Request) (execution.Result, error) {
	s, err := w.session(id)
	if err != nil {
		return execution.Result{}, err
	}
	res, err := s.Execute(ctx, req)
	if errors.Is(err, pool.ErrSessionClosed) {
		w.mu.Lock()
		delete(w.sessions, id)
		w.mu.Unlock()
		return res, fmt.Errorf("%w %q (it ended)", ErrUnknownSession, id)
	}
	return res, err
}

// CloseSession implements Runtime.
func (w *WarmRuntime) CloseSession(_ context.Context, id string) error {
	s, err := w.session(id)
	if err != nil {
		return err
	}
	w.mu.Lock()
	delete(w.sessions, id)
	w.mu.Unlock()
	if err := s.Close(); err != nil && !errors.Is(err, pool.ErrSessionClosed) {
		return err
	}
	return nil
}

// Close stops the workers and sessions. A second caller (retool's
// shutdown racing a SIGTERM) waits for the first to finish removing the
// sandboxes rather than letting the process exit under it.
func (w *WarmRuntime) Close() error {
	w.closing.Lock()
	defer w.closing.Unlock()
	w.mu.Lock()
	p, sb := w.pool, w.sb
	w.pool, w.sb = nil, nil
	for id, s := range w.sessions {
		_ = s.Close()
		delete(w.sessions, id)
	}
	w.mu.Unlock()
	if p != nil {
		err := p.Close()
		closeSandbox(sb)
		return err
	}
	return nil
}

// Interpreter returns the "interpreter" setting or def, checked to exist
// on the host. With an "image" setting it lives in that image instead,
// where the worker's start checks it.
func Interpreter(values map[string]string, def string) (string, error) {
	path := def
	if v := values["interpreter"]; v != "" {
		path = v
	}
	if values["image"] != "" {
		if !filepath.IsAbs(path) {
			return "", fmt.Errorf("interpreter %s: expected an absolute path inside image %s", path, values["image"])
		}
		return path, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("interpreter %s not found (set settings.interpreter in the runtime block)", path)
		}
		return "", fmt.Errorf("interpreter %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("interpreter %s is not an executable file", path)
	}
	return path, nil
}

// demoteAfter reads settings.demote_after: how long an execution runs
// before its CPU weight is lowered ("" for the pool's default, "off" for
// never).
func demoteAfter(v string) (time.Duration, error) {
	switch v {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("settings.demote_after = %q: want a positive duration such as \"100ms\", or \"off\"", v)
	}
	return d, nil
}
