// Package orchestrator starts installed runtime plugins as isolated
// subprocesses (go-plugin over gRPC, checksums verified before start),
// routes executions to them by language, restarts a plugin that crashed
// and kills whole process groups on shutdown. It does not sandbox code
// itself: the plugins do, through core/sandbox.
package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/sysmon"
	"github.com/retool-rl/retool/plugins/install"
	"github.com/retool-rl/retool/plugins/sdk"
)

// ErrUnknownLanguage is returned when no installed plugin runs a language.
var ErrUnknownLanguage = errors.New("no installed runtime runs this language")

// Orchestrator owns the running plugins.
type Orchestrator struct {
	cfg *config.Config
	dir *install.Dir
	log hclog.Logger

	mu       sync.Mutex
	running  map[string]*runtimePlugin
	starting map[string]*sync.Mutex
	// slots bound the executions handed to each plugin at once to its
	// pool size: the rest wait here, not inside the plugin, so a plugin
	// that dies takes only the executions really running on it along.
	slots map[string]chan struct{}
	// langs caches Languages (read-only once published).
	langsMu sync.Mutex
	langs   map[string]string
	langsAt time.Time
	// restarts counts plugin processes restarted after they died.
	restarts map[string]int64
	closed   bool
}

type runtimePlugin struct {
	m      install.Manifest
	client *plugin.Client
	cmd    *exec.Cmd
	rt     sdk.Runtime
	info   sdk.Info
}

// New prepares an orchestrator; plugins start on first use or Start.
func New(cfg *config.Config, dir *install.Dir, log hclog.Logger) *Orchestrator {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Orchestrator{cfg: cfg, dir: dir, log: log, running: map[string]*runtimePlugin{},
		starting: map[string]*sync.Mutex{}, slots: map[string]chan struct{}{}, restarts: map[string]int64{}}
}

// Start launches the named plugins (all usable installed ones when none
// named) and waits until their workers are warm.
func (o *Orchestrator) Start(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		for _, m := range o.manifests() {
			names = append(names, m.Name)
		}
	}
	var errs []error
	for _, n := range names {
		if _, err := o.plugin(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// manifests lists the installed plugins, skipping (and logging) damaged
// ones: one broken plugin must not take every language down with it.
func (o *Orchestrator) manifests() []install.Manifest {
	ms, errs := o.dir.ListUsable()
	for _, err := range errs {
		o.log.Warn("skipping a damaged plugin", "error", err)
	}
	return ms
}

// Languages maps each language to the plugin that runs it.
// The plugin directory is read again at most once a second (languagesTTL):
// every execution needs the map, and installs are rare.
func (o *Orchestrator) Languages() (map[string]string, error) {
	o.langsMu.Lock()
	defer o.langsMu.Unlock()
	if o.langs != nil && time.Since(o.langsAt) < languagesTTL {
		return o.langs, nil
	}
	out := map[string]string{}
	for _, m := range o.manifests() {
		for _, l := range m.Languages {
			out[l] = m.Name
		}
	}
	o.langs, o.langsAt = out, time.Now()
	return out, nil
}

// languagesTTL bounds how stale the language map may be.
const languagesTTL = time.Second

// runtimeFor names the plugin that runs lang.
func (o *Orchestrator) runtimeFor(lang string) (string, error) {
	langs, err := o.Languages()
	if err != nil {
		return "", err
	}
	name, ok := langs[lang]
	if !ok {
		known := make([]string, 0, len(langs))
		for l := range langs {
			known = append(known, l)
		}
		sort.Strings(known)
		if len(known) == 0 {
			return "", fmt.Errorf("%w: %q (no runtime plugins installed; run `retool plugin install`)", ErrUnknownLanguage, lang)
		}
		return "", fmt.Errorf("%w: %q (installed: %s)", ErrUnknownLanguage, lang, strings.Join(known, ", "))
	}
	return name, nil
}

func (o *Orchestrator) pluginFor(ctx context.Context, lang string) (*runtimePlugin, error) {
	name, err := o.runtimeFor(lang)
	if err != nil {
		return nil, err
	}
	return o.plugin(ctx, name)
}

// acquire takes one of a plugin's execution slots.
func (o *Orchestrator) acquire(ctx context.Context, name string) (release func(), err error) {
	o.mu.Lock()
	c, ok := o.slots[name]
	if !ok {
		c = make(chan struct{}, max(o.settings(name).PoolSize, 1))
		o.slots[name] = c
	}
	o.mu.Unlock()
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a %s worker: %w", name, ctx.Err())
	}
}

// plugin returns the running plugin, starting or restarting it. Starts
// are serialised per plugin, so that a restarting runtime never holds up
// executions of the others.
func (o *Orchestrator) plugin(ctx context.Context, name string) (*runtimePlugin, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, errors.New("orchestrator closed")
	}
	if p, ok := o.running[name]; ok && !p.client.Exited() {
		o.mu.Unlock()
		return p, nil
	}
	start, ok := o.starting[name]
	if !ok {
		start = &sync.Mutex{}
		o.starting[name] = start
	}
	o.mu.Unlock()

	start.Lock()
	defer start.Unlock()
	o.mu.Lock()
	if p, ok := o.running[name]; ok {
		if !p.client.Exited() {
			o.mu.Unlock()
			return p, nil // started by the caller we waited for
		}
		o.log.Warn("runtime plugin exited; restarting", "plugin", name)
		killGroup(p.cmd)
		delete(o.running, name)
		o.restarts[name]++
	}
	o.mu.Unlock()
	m, err := o.dir.Get(name)
	if err != nil {
		return nil, err
	}
	p, err := o.launch(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("start %s runtime: %w", name, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		p.client.Kill()
		killGroup(p.cmd)
		return nil, errors.New("orchestrator closed")
	}
	o.running[name] = p
	return p, nil
}

func (o *Orchestrator) launch(ctx context.Context, m *install.Manifest) (*runtimePlugin, error) {
	sum, err := hex.DecodeString(m.SHA256)
	if err != nil {
		return nil, fmt.Errorf("manifest checksum: %w", err)
	}
	cmd := exec.Command(m.Binary)
	// SIGTERM when retool dies, however it dies: the plugin then closes its
	// workers and removes their cgroups instead of running on as an orphan.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// A plugin wakes about once an execution: see package sysmon. The host
	// environment goes in here, not through go-plugin, whose copy of it
	// would come last and override GODEBUG.
	cmd.Env = sysmon.Env(os.Environ())
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.RuntimePlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           o.log.Named(m.Name),
		StartTimeout:     30 * time.Second,
		GRPCDialOptions:  sdk.DialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("binary %s changed since it was installed (checksum mismatch); reinstall it", m.Binary)
		}
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, err
	}
	rt := raw.(sdk.Runtime)
	info, err := rt.Info(ctx)
	if err != nil {
		client.Kill()
		return nil, err
	}
	if err := rt.Configure(ctx, o.settings(m.Name)); err != nil {
		client.Kill()
		return nil, err
	}
	return &runtimePlugin{m: *m, client: client, cmd: cmd, rt: rt, info: info}, nil
}

func (o *Orchestrator) settings(name string) sdk.Settings {
	s := sdk.Settings{PoolSize: 1, DefaultLimits: execution.DefaultLimits}
	if o.cfg == nil {
		return s
	}
	s.Sandbox = sdk.SandboxSettings{
		Backend: o.cfg.Sandbox.Backend, WorkDirBytes: o.cfg.Sandbox.WorkDirBytes,
		ReadOnlyPaths: o.cfg.Sandbox.ReadOnlyPaths, AllowNetwork: o.cfg.Sandbox.AllowNetwork,
		Containerd: sdk.ContainerdSettings(o.cfg.Sandbox.Containerd),
	}
	if r, ok := o.cfg.Runtime(name); ok {
		s.PoolSize = r.PoolSize
		s.Values = r.Settings
		s.DefaultLimits = execution.Limits{
			WallTime: r.Limits.WallTime, CPUTime: r.Limits.CPUTime, MemoryBytes: r.Limits.MemoryBytes,
			Pids: r.Limits.Pids, OutputBytes: r.Limits.OutputBytes, FileSizeBytes: r.Limits.FileSizeBytes,
			OpenFiles: r.Limits.OpenFiles,
		}.WithDefaults(execution.DefaultLimits)
	}
	return s
}

// Execute routes req to the plugin for its language. A plugin that dies
// during the call yields a SandboxError result; the next call restarts it.
func (o *Orchestrator) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	if err := req.Validate(); err != nil {
		return execution.Result{}, err
	}
	name, err := o.runtimeFor(req.Language)
	if err != nil {
		return execution.Result{}, err
	}
	release, err := o.acquire(ctx, name)
	if err != nil {
		return execution.Result{}, err
	}
	defer release()
	p, err := o.plugin(ctx, name)
	if err != nil {
		return execution.Result{}, err
	}
	res, err := p.rt.Execute(ctx, req)
	if err != nil && ctx.Err() == nil && !errors.Is(err, execution.ErrInvalid) && p.exited(2*time.Second) {
		if notDelivered(err) {
			// The plugin was already gone: the request never reached it, so
			// it runs on the restarted plugin instead of failing.
			if p, err = o.pluginFor(ctx, req.Language); err != nil {
				return execution.Result{}, err
			}
			return p.rt.Execute(ctx, req)
		}
		return execution.Result{Status: execution.SandboxError,
			Message: fmt.Sprintf("runtime plugin %s crashed during the execution; it restarts on the next one", p.m.Name)}, nil
	}
	return res, err
}

// notDelivered recognises gRPC's failures to send a call at all (the
// connection was already closed), as opposed to a connection lost while
// the call was in flight.
func notDelivered(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"transport is closing", "connection refused", "client connection is closing", "error while dialing"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// OpenSession starts a stateful interpreter for lang; the id it returns
// names the plugin too, so that later calls find their way back.
func (o *Orchestrator) OpenSession(ctx context.Context, lang string, limits execution.Limits) (string, error) {
	p, err := o.pluginFor(ctx, lang)
	if err != nil {
		return "", err
	}
	id, err := p.rt.OpenSession(ctx, lang, limits)
	if err != nil {
		return "", fmt.Errorf("open %s session: %w", lang, err)
	}
	return p.m.Name + ":" + id, nil
}

func (o *Orchestrator) sessionPlugin(ctx context.Context, id string) (*runtimePlugin, string, error) {
	name, sid, ok := strings.Cut(id, ":")
	if !ok {
		return nil, "", fmt.Errorf("%w %q", sdk.ErrUnknownSession, id)
	}
	o.mu.Lock()
	p, running := o.running[name]
	o.mu.Unlock()
	if !running || p.client.Exited() {
		// Sessions live in their plugin's memory: a restarted plugin has none.
		return nil, "", fmt.Errorf("%w %q (its runtime plugin is not running)", sdk.ErrUnknownSession, id)
	}
	return p, sid, nil
}

// ExecuteInSession runs req in an open session's interpreter.
func (o *Orchestrator) ExecuteInSession(ctx context.Context, id string, req *execution.Request) (execution.Result, error) {
	if err := req.Validate(); err != nil {
		return execution.Result{}, err
	}
	p, sid, err := o.sessionPlugin(ctx, id)
	if err != nil {
		return execution.Result{}, err
	}
	return p.rt.ExecuteInSession(ctx, sid, req)
}

// CloseSession ends a session.
func (o *Orchestrator) CloseSession(ctx context.Context, id string) error {
	p, sid, err := o.sessionPlugin(ctx, id)
	if err != nil {
		return err
	}
	return p.rt.CloseSession(ctx, sid)
}

// exited waits up to d for go-plugin to notice that the process is gone:
// the broken connection is usually seen before the process is reaped.
func (p *runtimePlugin) exited(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !p.client.Exited() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Watch health-checks the running plugins every interval until ctx ends:
// a plugin that exited is restarted at once rather than on the next
// execution, so callers do not pay for the restart.
func (o *Orchestrator) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, name := range o.Running() {
			o.mu.Lock()
			p, ok := o.running[name]
			o.mu.Unlock()
			if !ok {
				continue
			}
			if !p.client.Exited() {
				hctx, cancel := context.WithTimeout(ctx, interval)
				_, err := p.rt.Health(hctx)
				cancel()
				if err == nil || !p.exited(time.Second) {
					continue
				}
			}
			if _, err := o.plugin(ctx, name); err != nil {
				o.log.Error("restart runtime plugin", "plugin", name, "error", err)
			} else {
				o.log.Info("restarted runtime plugin", "plugin", name)
			}
		}
	}
}

// Health asks every running plugin.
func (o *Orchestrator) Health(ctx context.Context) map[string]sdk.Health {
	o.mu.Lock()
	ps := make(map[string]*runtimePlugin, len(o.running))
	for n, p := range o.running {
		ps[n] = p
	}
	o.mu.Unlock()
	out := map[string]sdk.Health{}
	for n, p := range ps {
		h, err := p.rt.Health(ctx)
		if err != nil {
			h = sdk.Health{Message: err.Error()}
		}
		// A restarted plugin starts counting from zero: add its own restarts.
		o.mu.Lock()
		h.Restarts += o.restarts[n] * int64(max(o.settings(n).PoolSize, 1))
		o.mu.Unlock()
		out[n] = h
	}
	return out
}

// Running lists the names of running plugins.
func (o *Orchestrator) Running() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for n := range o.running {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Pid is the process id of a running plugin, 0 if it is not running.
func (o *Orchestrator) Pid(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := o.running[name]; ok && p.cmd.Process != nil && !p.client.Exited() {
		return p.cmd.Process.Pid
	}
	return 0
}

// Close stops every plugin and its process group: go-plugin alone leaves
// grandchildren behind.
func (o *Orchestrator) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	for n, p := range o.running {
		p.client.Kill()
		killGroup(p.cmd)
		delete(o.running, n)
	}
	return nil
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Prober asks a plugin binary for its Info: install's check that a file
// is a retool runtime plugin speaking this protocol.
type Prober struct{ Log hclog.Logger }

// Probe implements install.Prober.
func (p Prober) Probe(ctx context.Context, binary string) (install.Info, error) {
	log := p.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	cmd := exec.Command(binary)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.RuntimePlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           log,
		StartTimeout:     10 * time.Second,
	})
	defer func() { client.Kill(); killGroup(cmd) }()
	rpc, err := client.Client()
	if err != nil {
		if strings.Contains(err.Error(), "Incompatible API version") {
			return install.Info{}, fmt.Errorf("%w: %s", install.ErrProtocolMismatch, firstLine(err.Error()))
		}
		return install.Info{}, fmt.Errorf("%w: it did not answer retool's plugin handshake (%s)", install.ErrNotAPlugin, firstLine(err.Error()))
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return install.Info{}, fmt.Errorf("%w: %v", install.ErrNotAPlugin, err)
	}
	info, err := raw.(sdk.Runtime).Info(ctx)
	if err != nil {
		return install.Info{}, fmt.Errorf("%w: %v", install.ErrNotAPlugin, err)
	}
	return install.Info{Name: info.Name, Version: info.Version, Languages: info.Languages,
		Capabilities: info.Capabilities, ProtocolVersion: info.ProtocolVersion}, nil
}

// firstLine keeps an error from a child process to one short line: go-plugin
// quotes whatever a non-plugin printed.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
