package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/retool-rl/retool/core/sandbox"
)

// Accepted values of the enumerated settings.
var (
	LogLevels = []string{"trace", "debug", "info", "warn", "error"}
	// Backends: "none" runs code without isolation (tests and development
	// only) and is never chosen implicitly.
	Backends = []string{"native", "none", "containerd"}
	// JobKinds are the labels a job block may have.
	JobKinds = []string{"train", "replay"}
)

// Bounds beyond which a value is taken for a mistake.
const (
	MaxPoolSize    = 256
	MaxWallTime    = time.Hour
	MaxCPUTime     = time.Hour
	MaxPids        = 32768
	MaxOutputBytes = 1 << 30  // 1 GiB of captured output
	MaxFileSize    = 64 << 30 // 64 GiB
	MaxOpenFiles   = 1 << 20  // Linux's default nr_open
	MaxConcurrency = 1024
	// memory_mb and work_dir_mb may not exceed the machine's RAM; where that
	// is unknown, this bound applies.
	maxMemoryUnknownRAM = 1 << 40
)

var runtimeName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)

// containerdNamespace is containerd's own rule for namespace names.
var containerdNamespace = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

// totalRAM is the machine's RAM in bytes (0 if unknown); a variable for tests.
var totalRAM = machineRAM

// validate checks every value, locating each problem at its origin.
func (c *Config) validate() hcl.Diagnostics {
	v := &validator{c: c}
	if c.PluginDir == "" {
		v.add("plugin_dir", "Invalid plugin_dir", "plugin_dir is empty; expected the directory that holds runtime plugins.")
	}
	v.enum("log_level", "Invalid log_level", "a log level", c.LogLevel, LogLevels)
	v.enum("sandbox.backend", "Unknown sandbox backend", "a sandbox backend", c.Sandbox.Backend, Backends)
	v.memory("sandbox.work_dir_mb", "work_dir_mb", c.Sandbox.WorkDirBytes, " (the work dir is a tmpfs held in memory)")
	for i, p := range c.Sandbox.ReadOnlyPaths {
		if err := sandbox.CheckReadOnlyPath(p); err != nil {
			v.add("sandbox.read_only_paths", "Invalid read_only_paths",
				fmt.Sprintf("read_only_paths[%d] = %v; expected a host path such as \"/opt/julia\".", i, err))
		}
	}

	if s := c.Sandbox.Containerd.Socket; s != "" && !filepath.IsAbs(s) {
		v.add("sandbox.containerd.socket", "Invalid containerd socket",
			fmt.Sprintf("socket = %q is not an absolute path; expected containerd's socket, e.g. \"/run/containerd/containerd.sock\".", s))
	}
	if s := c.Sandbox.Containerd.StateDir; s != "" && !filepath.IsAbs(s) {
		v.add("sandbox.containerd.state_dir", "Invalid containerd state_dir",
			fmt.Sprintf("state_dir = %q is not an absolute path; expected a host directory such as \"/run/retool/containerd\".", s))
	}
	if ns := c.Sandbox.Containerd.Namespace; ns != "" && !containerdNamespace.MatchString(ns) {
		v.add("sandbox.containerd.namespace", "Invalid containerd namespace",
			fmt.Sprintf("namespace = %q: expected letters, digits, '_', '-' or '.', starting with a letter or digit, e.g. \"retool\".", ns))
	}

	for _, r := range c.Runtimes {
		key := "runtime." + r.Name
		if !runtimeName.MatchString(r.Name) {
			v.add(key, "Invalid runtime name",
				fmt.Sprintf("runtime %q: expected a plugin name of lower-case letters, digits, '_', '-' or '.', starting with a letter, e.g. \"python\".", r.Name))
		}
		v.intRange(key+".pool_size", "pool_size", int64(r.PoolSize), 0, MaxPoolSize, "warm workers")
		l, lk := r.Limits, key+".limits."
		v.durRange(lk+"wall_time", "wall_time", l.WallTime, MaxWallTime)
		v.durRange(lk+"cpu_time", "cpu_time", l.CPUTime, MaxCPUTime)
		v.memory(lk+"memory_mb", "memory_mb", l.MemoryBytes, "")
		v.intRange(lk+"pids", "pids", int64(l.Pids), 1, MaxPids, "processes")
		v.intRange(lk+"output_kb", "output_kb", l.OutputBytes>>10, 1, MaxOutputBytes>>10, "KiB")
		v.intRange(lk+"file_size_mb", "file_size_mb", l.FileSizeBytes>>20, 1, MaxFileSize>>20, "MiB")
		v.intRange(lk+"open_files", "open_files", int64(l.OpenFiles), 1, MaxOpenFiles, "file descriptors")
	}

	v.eval()
	if c.Server.Addr != "" {
		v.server()
	}

	if j := c.Job; j != nil {
		if !slices.Contains(JobKinds, j.Kind) {
			v.add("job.kind", "Unknown job kind",
				fmt.Sprintf("job %q is not a job kind; expected %s.%s", j.Kind, oneOf(JobKinds), didYouMean(j.Kind, JobKinds)))
		}
		if j.Kind == "train" && j.Train != nil {
			v.train(j.Train)
		}
	}
	if j := c.Job; j != nil && j.Kind == "replay" {
		// A job block without traces is reported while decoding.
		if _, set := c.src["job.traces"]; set && j.Traces == "" {
			v.add("job.traces", "Invalid traces",
				"traces is empty; expected the path of a JSONL traces file (relative to the config file).")
		}
		v.intRange("job.limit", "limit", int64(j.Limit), 0, 1<<31-1, "traces (0 means all)")
		v.intRange("job.concurrency", "concurrency", int64(j.Concurrency), 1, MaxConcurrency, "concurrent traces")
		if _, ok := c.Runtime(j.Language); !ok {
			names := make([]string, len(c.Runtimes))
			for i, r := range c.Runtimes {
				names[i] = r.Name
			}
			v.add("job.language", "Unknown job language",
				fmt.Sprintf("language %q has no runtime block; expected %s.%s", j.Language, oneOf(names), didYouMean(j.Language, names)))
		}
	}
	return v.diags
}

type validator struct {
	c     *Config
	diags hcl.Diagnostics
}

func (v *validator) add(key, summary, detail string) {
	v.diags = append(v.diags, v.c.problem(key, summary, detail))
}

func (v *validator) enum(key, summary, what, got string, allowed []string) {
	if !slices.Contains(allowed, got) {
		name := key[len(key)-len(lastDot(key)):]
		v.add(key, summary, fmt.Sprintf("%s = %q is not %s; expected %s.%s", name, got, what, oneOf(allowed), didYouMean(got, allowed)))
	}
}

func lastDot(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' {
			return key[i+1:]
		}
	}
	return key
}

func (v *validator) intRange(key, name string, got, lo, hi int64, unit string) {
	if got < lo || got > hi {
		v.add(key, "Invalid "+name, fmt.Sprintf("%s = %d is out of range; expected %d to %d %s.", name, got, lo, hi, unit))
	}
}

func (v *validator) durRange(key, name string, got, hi time.Duration) {
	if got <= 0 || got > hi {
		v.add(key, "Invalid "+name, fmt.Sprintf("%s = %s is out of range; expected more than 0s and at most %s.", name, got, hi))
	}
}

// memory checks a size in bytes written in MiB against the machine's RAM.
func (v *validator) memory(key, name string, bytes int64, why string) {
	mb := bytes >> 20
	if bytes < 1<<20 {
		v.add(key, "Invalid "+name, fmt.Sprintf("%s = %d is out of range; expected at least 1 (MiB).", name, mb))
		return
	}
	if ram := totalRAM(); ram > 0 && bytes > ram {
		v.add(key, "Invalid "+name, fmt.Sprintf("%s = %d exceeds this machine's RAM%s; expected at most %d (MiB).", name, mb, why, ram>>20))
	} else if ram <= 0 && bytes > maxMemoryUnknownRAM {
		v.add(key, "Invalid "+name, fmt.Sprintf("%s = %d is absurdly large; expected at most %d (MiB).", name, mb, maxMemoryUnknownRAM>>20))
	}
}

// eval checks the evaluation settings.
func (v *validator) eval() {
	e := v.c.Eval
	if e.N < 1 || e.N > 4096 {
		v.add("eval.n", "Invalid n", fmt.Sprintf("n = %d; expected 1 to 4096 samples per problem.", e.N))
	}
	for _, k := range e.K {
		if k < 1 {
			v.add("eval.k", "Invalid k", fmt.Sprintf("k = %v; expected positive integers such as [1, 8, 32].", e.K))
			break
		}
	}
	if e.Temperature < 0 || e.Temperature > 10 {
		v.add("eval.temperature", "Invalid temperature", fmt.Sprintf("temperature = %v; expected 0 to 10.", e.Temperature))
	}
	if e.TopP <= 0 || e.TopP > 1 {
		v.add("eval.top_p", "Invalid top_p", fmt.Sprintf("top_p = %v; expected a number in (0, 1].", e.TopP))
	}
	if e.MaxToolCalls < 0 || e.MaxTokens < 1 {
		v.add("eval.max_tokens", "Invalid limits", fmt.Sprintf("max_tool_calls = %d, max_tokens = %d; expected ≥ 0 and ≥ 1.", e.MaxToolCalls, e.MaxTokens))
	}
}

// server checks that addr is host:port and that a non-loopback server has a token.
func (v *validator) server() {
	s := v.c.Server
	if s.MaxQueue < 0 || s.MaxQueue > 1<<20 {
		v.add("server.max_queue", "Invalid max_queue", fmt.Sprintf("max_queue = %d; expected 0 to %d requests.", s.MaxQueue, 1<<20))
	}
	if s.MaxBodyBytes <= 0 || s.MaxBodyBytes > 1<<30 {
		v.add("server.max_body_mb", "Invalid max_body_mb", fmt.Sprintf("max_body_mb = %d; expected 1 to 1024.", s.MaxBodyBytes>>20))
	}
	if s.SessionIdle <= 0 || s.SessionIdle > 24*time.Hour {
		v.add("server.session_idle", "Invalid session_idle", fmt.Sprintf("session_idle = %s; expected a duration from 1s to 24h.", s.SessionIdle))
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		v.add("server.addr", "Invalid server addr",
			fmt.Sprintf("addr = %q is not host:port (%v); expected e.g. %q.", s.Addr, unwrapAddrErr(err), DefaultServerAddr))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add("server.addr", "Invalid server addr",
			fmt.Sprintf("addr = %q has port %q; expected a port number 0 to 65535, e.g. %q.", s.Addr, port, DefaultServerAddr))
		return
	}
	if s.Token == "" && !isLoopback(host) {
		v.add("server.addr", "Missing server token",
			fmt.Sprintf("addr = %q is not a loopback address, so a token is required; expected token = \"...\" in the server block or RETOOL_SERVER_TOKEN (or a loopback addr such as %q).", s.Addr, DefaultServerAddr))
	}
}

func unwrapAddrErr(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
