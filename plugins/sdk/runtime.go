package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"

	"github.com/retool-rl/retool/core/execution"
)

// ProtocolVersion of the runtime protocol this SDK speaks. A plugin built
// against another version is refused at start.
const ProtocolVersion = 1

// PluginName is the name under which the runtime is dispensed.
const PluginName = "runtime"

// Handshake is shared by retool and every runtime plugin. The cookie only
// stops a plugin binary from being run by hand by mistake.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "RETOOL_PLUGIN",
	MagicCookieValue: "runtime-7d1f3c2a",
}

// Info describes a runtime.
type Info struct {
	Name    string
	Version string
	// Languages accepted; the first is the canonical one.
	Languages []string
	// Capabilities such as "sessions", "files", "stdin", "fork-pool".
	Capabilities    []string
	ProtocolVersion int
}

// SandboxSettings choose the isolation of a runtime's workers.
type SandboxSettings struct {
	Backend       string // "native", "containerd" or "none"
	WorkDirBytes  int64
	ReadOnlyPaths []string
	AllowNetwork  bool
	Containerd    ContainerdSettings
}

// ContainerdSettings configure the containerd backend; empty fields take
// its defaults. A runtime's "image" setting overrides Image.
type ContainerdSettings struct {
	Socket, Namespace, Runtime, Image, Snapshotter, StateDir string
}

// Settings come from retool.hcl through the orchestrator.
type Settings struct {
	PoolSize      int
	DefaultLimits execution.Limits
	Sandbox       SandboxSettings
	// Values are the runtime block's settings map (interpreter = "...").
	Values map[string]string
}

// Health is a runtime's state.
type Health struct {
	Ready        bool
	Message      string
	WorkersReady int
	WorkersTotal int
	Restarts     int64
	Degraded     []string
}

// Runtime is what a plugin implements and what the orchestrator calls.
type Runtime interface {
	Info(ctx context.Context) (Info, error)
	Configure(ctx context.Context, s Settings) error
	Health(ctx context.Context) (Health, error)
	// Execute returns an error only when it could not try; what the code
	// did, including crashes and timeouts, is in the Result.
	Execute(ctx context.Context, req *execution.Request) (execution.Result, error)
	OpenSession(ctx context.Context, language string, limits execution.Limits) (string, error)
	ExecuteInSession(ctx context.Context, session string, req *execution.Request) (execution.Result, error)
	CloseSession(ctx context.Context, session string) error
}

// ErrSessionsNotSupported is returned by runtimes without sessions.
var ErrSessionsNotSupported = errors.New("this runtime does not support sessions")

// NoSessions can be embedded by runtimes that keep no state.
type NoSessions struct{}

func (NoSessions) OpenSession(context.Context, string, execution.Limits) (string, error) {
	return "", ErrSessionsNotSupported
}

func (NoSessions) ExecuteInSession(context.Context, string, *execution.Request) (execution.Result, error) {
	return execution.Result{}, ErrSessionsNotSupported
}

func (NoSessions) CloseSession(context.Context, string) error { return ErrSessionsNotSupported }
