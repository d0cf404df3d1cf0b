package config

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
)

//go:embed default.hcl
var defaultHCL []byte

// Config is a decoded, validated retool configuration.
type Config struct {
	PluginDir string
	LogLevel  string // trace | debug | info | warn | error
	Sandbox   Sandbox
	Runtimes  []Runtime
	Server    Server
	// Eval holds retool eval's settings; its flags override them.
	Eval Eval
	Job  *Job   // nil when the file has no job block
	Path string // the file it came from; "" for Default()

	// src records where each value was set (a file range, or the
	// environment variable or flag that overlaid it), keyed like
	// "runtime.python.limits.memory_mb", so that validation errors point
	// at the value's origin.
	src map[string]origin
}

// Sandbox configures the isolation that plugins apply to executions.
type Sandbox struct {
	Backend       string // native | none | containerd
	WorkDirBytes  int64  // tmpfs size of the per-execution work dir
	ReadOnlyPaths []string
	AllowNetwork  bool
	Containerd    Containerd
}

// Containerd configures the containerd backend (a `containerd` block in
// `sandbox`); empty fields take the backend's defaults.
type Containerd struct {
	Socket      string // containerd's gRPC socket
	Namespace   string // containerd namespace of retool's images and containers
	Runtime     string // shim runtime: io.containerd.runc.v2, or runsc's io.containerd.runsc.v1
	Image       string // workers' image; "" builds retool's host image locally
	Snapshotter string
	StateDir    string // host dir for runc's state and the workers' sockets and files
}

// Runtime configures one runtime plugin (a `runtime "name"` block).
type Runtime struct {
	Name     string
	PoolSize int // warm workers
	Settings map[string]string
	Limits   Limits
}

// Limits are the default resource limits of one execution.
type Limits struct {
	WallTime, CPUTime time.Duration
	MemoryBytes       int64
	Pids              int
	OutputBytes       int64
	FileSizeBytes     int64
	OpenFiles         int
}

// Eval configures `retool eval`: the data set, the policy server, the
// template and sampling.
type Eval struct {
	Data, Template, BaseURL, Model string
	N, MaxToolCalls, MaxTokens     int
	K                              []int
	Temperature, TopP              float64
	Stateful                       bool
}

// DefaultEval are retool eval's settings when nothing sets them: the
// paper's evaluation sampling (temperature 1.0, top-p 0.7).
var DefaultEval = Eval{Template: "retool", N: 1, K: []int{1}, MaxToolCalls: 8, MaxTokens: 16384,
	Temperature: 1.0, TopP: 0.7}

// Server configures the optional HTTP server; Addr is "" when there is none.
type Server struct {
	Addr, Token string
	// MaxQueue bounds the requests waiting per runtime beyond those
	// running; past it the server answers 429 at once.
	MaxQueue int
	// MaxBodyBytes bounds a request body (413 past it).
	MaxBodyBytes int64
	// SessionIdle closes a session unused for this long.
	SessionIdle time.Duration
}

// Job is the job `retool run` executes (a `job "kind"` block).
type Job struct {
	Kind string // the block label: "train" or "replay"
	// Train is the train job's settings (Kind "train"); the fields below
	// are the replay job's.
	Train       *Train
	Traces      string // resolved against the config file's directory
	Limit       int    // traces to use; 0 means all
	Concurrency int
	Language    string
}

// Built-in values for settings that neither the embedded default.hcl nor a
// config file sets.
const (
	DefaultPoolSize    = 1 // for a runtime block without pool_size
	DefaultServerAddr  = "127.0.0.1:8080"
	DefaultMaxQueue    = 1024
	DefaultMaxBody     = 32 << 20
	DefaultSessionIdle = 10 * time.Minute
	DefaultConcurrency = 1
	DefaultLanguage    = "python"
)

// DefaultLimits are the limits of a runtime block that sets none.
var DefaultLimits = Limits{
	WallTime:      10 * time.Second,
	CPUTime:       10 * time.Second,
	MemoryBytes:   512 << 20,
	Pids:          64,
	OutputBytes:   1024 << 10,
	FileSizeBytes: 16 << 20,
	OpenFiles:     256,
}

// Default returns the embedded defaults: default.hcl (identical to the
// repository's retool.hcl) decoded over the built-in values. Its job's
// relative traces path is left relative to the current directory.
func Default() *Config {
	c := builtin()
	if diags := c.decode(defaultHCL, "default.hcl", false); diags.HasErrors() {
		panic("config: embedded default.hcl is invalid: " + (&Error{Diagnostics: diags}).Error())
	}
	return c
}

// Parse decodes src (HCL native syntax, or HCL JSON when filename ends in
// ".json") over Default(): each attribute the file sets replaces the default,
// runtime blocks merge by name, and the job is the file's own (nil if it has
// none). filename is used in error positions and to resolve relative paths.
// A non-nil error is an *Error.
func Parse(src []byte, filename string) (*Config, error) {
	c := Default()
	c.Path = filename
	if diags := c.decode(src, filename, true); diags.HasErrors() {
		return nil, newError(diags)
	}
	return c, nil
}

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(src, path)
}

// Runtime returns the runtime block named name.
func (c *Config) Runtime(name string) (Runtime, bool) {
	for _, r := range c.Runtimes {
		if r.Name == name {
			return r, true
		}
	}
	return Runtime{}, false
}

// builtin is the configuration before default.hcl is applied.
func builtin() *Config {
	return &Config{
		PluginDir: defaultPluginDir(),
		LogLevel:  "info",
		Sandbox:   Sandbox{Backend: "native", WorkDirBytes: 64 << 20, ReadOnlyPaths: []string{}},
		Server: Server{MaxQueue: DefaultMaxQueue, MaxBodyBytes: DefaultMaxBody,
			SessionIdle: DefaultSessionIdle},
		Eval: Eval{Template: DefaultEval.Template, N: DefaultEval.N, K: slices.Clone(DefaultEval.K),
			MaxToolCalls: DefaultEval.MaxToolCalls, MaxTokens: DefaultEval.MaxTokens,
			Temperature: DefaultEval.Temperature, TopP: DefaultEval.TopP},
		src: map[string]origin{},
	}
}

// defaultPluginDir is $RETOOL_PLUGIN_DIR, else <user config dir>/retool/plugins.
func defaultPluginDir() string {
	if d := os.Getenv("RETOOL_PLUGIN_DIR"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "retool", "plugins")
	}
	return filepath.Join("/usr/local/lib", "retool", "plugins")
}

// origin is where a value was set.
type origin struct {
	rng   *hcl.Range // in a config file
	label string     // otherwise, e.g. "RETOOL_POOL_SIZE (environment)"
}

func (c *Config) setOrigin(key string, o origin) {
	if c.src == nil {
		c.src = map[string]origin{}
	}
	c.src[key] = o
}

// problem builds an error diagnostic located at the origin of key.
func (c *Config) problem(key, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
	if o, ok := c.src[key]; ok {
		if o.rng != nil {
			d.Subject = o.rng
		} else {
			d.Extra = originLabel(o.label)
		}
	}
	return d
}
