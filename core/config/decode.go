package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// The HCL schema. Every attribute is an optional *hcl.Attribute so that
// decoding knows which values the file sets (and where); gohcl rejects any
// attribute or block not listed here, with a "Did you mean" suggestion.
// Adding a top-level block is one field in fileSchema plus its apply step.

type fileSchema struct {
	PluginDir *hcl.Attribute `hcl:"plugin_dir,optional"`
	LogLevel  *hcl.Attribute `hcl:"log_level,optional"`

	Sandbox  *sandboxBlock  `hcl:"sandbox,block"`
	Runtimes []runtimeBlock `hcl:"runtime,block"`
	Server   *serverBlock   `hcl:"server,block"`
	Job      *jobBlock      `hcl:"job,block"`
	Eval     *evalBlock     `hcl:"eval,block"`
}

type evalBlock struct {
	Data         *hcl.Attribute `hcl:"data,optional"`
	Template     *hcl.Attribute `hcl:"template,optional"`
	BaseURL      *hcl.Attribute `hcl:"base_url,optional"`
	Model        *hcl.Attribute `hcl:"model,optional"`
	N            *hcl.Attribute `hcl:"n,optional"`
	K            *hcl.Attribute `hcl:"k,optional"`
	MaxToolCalls *hcl.Attribute `hcl:"max_tool_calls,optional"`
	MaxTokens    *hcl.Attribute `hcl:"max_tokens,optional"`
	Temperature  *hcl.Attribute `hcl:"temperature,optional"`
	TopP         *hcl.Attribute `hcl:"top_p,optional"`
	Stateful     *hcl.Attribute `hcl:"stateful,optional"`
}

type sandboxBlock struct {
	Backend       *hcl.Attribute   `hcl:"backend,optional"`
	WorkDirMB     *hcl.Attribute   `hcl:"work_dir_mb,optional"`
	ReadOnlyPaths *hcl.Attribute   `hcl:"read_only_paths,optional"`
	AllowNetwork  *hcl.Attribute   `hcl:"allow_network,optional"`
	Containerd    *containerdBlock `hcl:"containerd,block"`
}

type containerdBlock struct {
	Socket      *hcl.Attribute `hcl:"socket,optional"`
	Namespace   *hcl.Attribute `hcl:"namespace,optional"`
	Runtime     *hcl.Attribute `hcl:"runtime,optional"`
	Image       *hcl.Attribute `hcl:"image,optional"`
	Snapshotter *hcl.Attribute `hcl:"snapshotter,optional"`
	StateDir    *hcl.Attribute `hcl:"state_dir,optional"`
}

type runtimeBlock struct {
	Name      string         `hcl:"name,label"`
	NameRange hcl.Range      `hcl:"name,label_range"`
	PoolSize  *hcl.Attribute `hcl:"pool_size,optional"`
	Settings  *hcl.Attribute `hcl:"settings,optional"`
	Limits    *limitsBlock   `hcl:"limits,block"`
}

type limitsBlock struct {
	WallTime   *hcl.Attribute `hcl:"wall_time,optional"`
	CPUTime    *hcl.Attribute `hcl:"cpu_time,optional"`
	MemoryMB   *hcl.Attribute `hcl:"memory_mb,optional"`
	Pids       *hcl.Attribute `hcl:"pids,optional"`
	OutputKB   *hcl.Attribute `hcl:"output_kb,optional"`
	FileSizeMB *hcl.Attribute `hcl:"file_size_mb,optional"`
	OpenFiles  *hcl.Attribute `hcl:"open_files,optional"`
}

type serverBlock struct {
	DefRange    hcl.Range      `hcl:",def_range"`
	Addr        *hcl.Attribute `hcl:"addr,optional"`
	Token       *hcl.Attribute `hcl:"token,optional"`
	MaxQueue    *hcl.Attribute `hcl:"max_queue,optional"`
	MaxBodyMB   *hcl.Attribute `hcl:"max_body_mb,optional"`
	SessionIdle *hcl.Attribute `hcl:"session_idle,optional"`
}

type jobBlock struct {
	Kind      string    `hcl:"kind,label"`
	KindRange hcl.Range `hcl:"kind,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`
	// Body is decoded by kind: replayBlock or trainBlock.
	Body hcl.Body `hcl:",remain"`
}

type replayBlock struct {
	Traces      *hcl.Attribute `hcl:"traces,optional"`
	Limit       *hcl.Attribute `hcl:"limit,optional"`
	Concurrency *hcl.Attribute `hcl:"concurrency,optional"`
	Language    *hcl.Attribute `hcl:"language,optional"`
}

// decoder applies one decoded file to a Config.
type decoder struct {
	c     *Config
	dir   string // the file's directory, for relative paths
	diags hcl.Diagnostics
}

// decode parses src and applies it over c. replaceJob makes the file's job
// (or its absence) replace c.Job; it is false only for default.hcl.
func (c *Config) decode(src []byte, filename string, replaceJob bool) hcl.Diagnostics {
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.EqualFold(filepath.Ext(filename), ".json") {
		file, diags = json.Parse(src, filename)
	} else {
		file, diags = hclsyntax.ParseConfig(src, filename, hcl.Pos{Line: 1, Column: 1})
	}
	if diags.HasErrors() {
		return diags
	}
	var fs fileSchema
	if diags = gohcl.DecodeBody(file.Body, nil, &fs); diags.HasErrors() {
		return diags
	}

	d := &decoder{c: c, dir: filepath.Dir(filename)}
	d.apply(&fs, replaceJob)
	// Values that failed to decode were not applied, so validating the rest
	// reports every other problem too without repeating those.
	return append(d.diags, c.validate()...)
}

func (d *decoder) apply(fs *fileSchema, replaceJob bool) {
	c := d.c
	if p, ok := decodeAttr[string](d, fs.PluginDir, "plugin_dir"); ok {
		c.PluginDir = d.path(p)
	}
	if l, ok := decodeAttr[string](d, fs.LogLevel, "log_level"); ok {
		c.LogLevel = l
	}
	if s := fs.Sandbox; s != nil {
		if b, ok := decodeAttr[string](d, s.Backend, "sandbox.backend"); ok {
			c.Sandbox.Backend = b
		}
		d.size(s.WorkDirMB, "sandbox.work_dir_mb", 1<<20, &c.Sandbox.WorkDirBytes)
		if p, ok := decodeAttr[[]string](d, s.ReadOnlyPaths, "sandbox.read_only_paths"); ok {
			if p == nil {
				p = []string{}
			}
			c.Sandbox.ReadOnlyPaths = p
		}
		if n, ok := decodeAttr[bool](d, s.AllowNetwork, "sandbox.allow_network"); ok {
			c.Sandbox.AllowNetwork = n
		}
		if cb := s.Containerd; cb != nil {
			ct := &c.Sandbox.Containerd
			for _, f := range []struct {
				attr *hcl.Attribute
				key  string
				dst  *string
			}{
				{cb.Socket, "socket", &ct.Socket}, {cb.Namespace, "namespace", &ct.Namespace},
				{cb.Runtime, "runtime", &ct.Runtime}, {cb.Image, "image", &ct.Image},
				{cb.Snapshotter, "snapshotter", &ct.Snapshotter}, {cb.StateDir, "state_dir", &ct.StateDir},
			} {
				if v, ok := decodeAttr[string](d, f.attr, "sandbox.containerd."+f.key); ok {
					*f.dst = v
				}
			}
		}
	}

	seen := map[string]hcl.Range{}
	for _, rb := range fs.Runtimes {
		if first, dup := seen[rb.Name]; dup {
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate runtime block",
				Detail:   fmt.Sprintf("runtime %q is already defined at %s; expected one block per runtime name.", rb.Name, pos(first)),
				Subject:  rb.NameRange.Ptr(),
			})
			continue
		}
		seen[rb.Name] = rb.NameRange
		d.runtime(rb)
	}

	if s := fs.Server; s != nil {
		if c.Server.Addr == "" {
			c.Server.Addr = DefaultServerAddr
			c.setOrigin("server.addr", origin{rng: s.DefRange.Ptr()})
		}
		if a, ok := decodeAttr[string](d, s.Addr, "server.addr"); ok {
			c.Server.Addr = a
		}
		if t, ok := decodeAttr[string](d, s.Token, "server.token"); ok {
			c.Server.Token = t
		}
		if n, ok := decodeAttr[int](d, s.MaxQueue, "server.max_queue"); ok {
			c.Server.MaxQueue = n
		}
		d.size(s.MaxBodyMB, "server.max_body_mb", 1<<20, &c.Server.MaxBodyBytes)
		d.duration(s.SessionIdle, "server.session_idle", &c.Server.SessionIdle)
	}

	if eb := fs.Eval; eb != nil {
		d.eval(eb)
	}

	if !replaceJob && fs.Job == nil {
		return
	}
	c.Job = nil
	for k := range c.src {
		if k == "job" || strings.HasPrefix(k, "job.") {
			delete(c.src, k)
		}
	}
	if jb := fs.Job; jb != nil {
		j := &Job{Kind: jb.Kind, Concurrency: DefaultConcurrency, Language: DefaultLanguage}
		c.setOrigin("job", origin{rng: jb.DefRange.Ptr()})
		c.setOrigin("job.kind", origin{rng: jb.KindRange.Ptr()})
		c.Job = j
		switch jb.Kind {
		case "train":
			j.Train = d.train(jb.Body)
			return
		case "replay":
		default:
			return // validation names the unknown kind
		}
		var rb replayBlock
		if diags := gohcl.DecodeBody(jb.Body, nil, &rb); diags.HasErrors() {
			d.diags = append(d.diags, diags...)
			return
		}
		if t, ok := decodeAttr[string](d, rb.Traces, "job.traces"); ok {
			j.Traces = d.path(t)
		} else if rb.Traces == nil {
			d.diags = append(d.diags, c.problem("job", "Missing traces",
				fmt.Sprintf("job %q has no traces; expected traces = \"path/to/traces.jsonl\" (relative to the config file).", jb.Kind)))
		}
		if n, ok := decodeAttr[int](d, rb.Limit, "job.limit"); ok {
			j.Limit = n
		}
		if n, ok := decodeAttr[int](d, rb.Concurrency, "job.concurrency"); ok {
			j.Concurrency = n
		}
		if l, ok := decodeAttr[string](d, rb.Language, "job.language"); ok {
			j.Language = l
		}
	}
}

// eval overrides the evaluation settings the block names.
func (d *decoder) eval(eb *evalBlock) {
	e := &d.c.Eval
	set := func(a *hcl.Attribute, key string, dst *string) {
		if v, ok := decodeAttr[string](d, a, key); ok {
			*dst = v
		}
	}
	set(eb.Data, "eval.data", &e.Data)
	set(eb.Template, "eval.template", &e.Template)
	set(eb.BaseURL, "eval.base_url", &e.BaseURL)
	set(eb.Model, "eval.model", &e.Model)
	for _, x := range []struct {
		a   *hcl.Attribute
		key string
		dst *int
	}{{eb.N, "eval.n", &e.N}, {eb.MaxToolCalls, "eval.max_tool_calls", &e.MaxToolCalls}, {eb.MaxTokens, "eval.max_tokens", &e.MaxTokens}} {
		if v, ok := decodeAttr[int](d, x.a, x.key); ok {
			*x.dst = v
		}
	}
	if v, ok := decodeAttr[[]int](d, eb.K, "eval.k"); ok {
		e.K = v
	}
	if v, ok := decodeAttr[float64](d, eb.Temperature, "eval.temperature"); ok {
		e.Temperature = v
	}
	if v, ok := decodeAttr[float64](d, eb.TopP, "eval.top_p"); ok {
		e.TopP = v
	}
	if v, ok := decodeAttr[bool](d, eb.Stateful, "eval.stateful"); ok {
		e.Stateful = v
	}
}

// runtime merges a runtime block into the runtime of the same name, or adds one.
func (d *decoder) runtime(rb runtimeBlock) {
	c := d.c
	i := -1
	for k := range c.Runtimes {
		if c.Runtimes[k].Name == rb.Name {
			i = k
		}
	}
	if i < 0 {
		c.Runtimes = append(c.Runtimes, Runtime{
			Name:     rb.Name,
			PoolSize: DefaultPoolSize,
			Settings: map[string]string{},
			Limits:   DefaultLimits,
		})
		i = len(c.Runtimes) - 1
	}
	r := &c.Runtimes[i]
	key := "runtime." + rb.Name
	c.setOrigin(key, origin{rng: rb.NameRange.Ptr()})
	if n, ok := decodeAttr[int](d, rb.PoolSize, key+".pool_size"); ok {
		r.PoolSize = n
	}
	if s, ok := decodeAttr[map[string]string](d, rb.Settings, key+".settings"); ok {
		if s == nil {
			s = map[string]string{}
		}
		r.Settings = s
	}
	if lb := rb.Limits; lb != nil {
		key += ".limits."
		l := &r.Limits
		d.duration(lb.WallTime, key+"wall_time", &l.WallTime)
		d.duration(lb.CPUTime, key+"cpu_time", &l.CPUTime)
		d.size(lb.MemoryMB, key+"memory_mb", 1<<20, &l.MemoryBytes)
		if n, ok := decodeAttr[int](d, lb.Pids, key+"pids"); ok {
			l.Pids = n
		}
		d.size(lb.OutputKB, key+"output_kb", 1<<10, &l.OutputBytes)
		d.size(lb.FileSizeMB, key+"file_size_mb", 1<<20, &l.FileSizeBytes)
		if n, ok := decodeAttr[int](d, lb.OpenFiles, key+"open_files"); ok {
			l.OpenFiles = n
		}
	}
}

// decodeAttr decodes a (if the file sets it) into a T, converting as HCL
// does (so 2 and "2" are both a number), and records its position under key.
func decodeAttr[T any](d *decoder, a *hcl.Attribute, key string) (T, bool) {
	var v T
	if a == nil {
		return v, false
	}
	diags := gohcl.DecodeExpression(a.Expr, nil, &v)
	if diags.HasErrors() {
		for _, dg := range diags {
			// gocty's messages name neither the attribute nor the value.
			if dg.Summary == "Unsuitable value type" {
				dg.Summary = "Invalid " + a.Name
				dg.Detail = fmt.Sprintf("got %s, expected %s.", describe(a.Expr), expectedType[T]())
			}
		}
		d.diags = append(d.diags, diags...)
		return v, false
	}
	d.c.setOrigin(key, origin{rng: a.Expr.Range().Ptr()})
	return v, true
}

// describe renders the value of a constant expression for error messages.
func describe(e hcl.Expression) string {
	v, diags := e.Value(nil)
	switch {
	case diags.HasErrors() || !v.IsKnown():
		return "an expression"
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return strconv.Quote(v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	}
	switch t := v.Type(); {
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "a map"
	default:
		return "a " + t.FriendlyName()
	}
}

// expectedType describes T for error messages.
func expectedType[T any]() string {
	var v T
	switch any(v).(type) {
	case string:
		return "a string"
	case int, int64:
		return "a whole number"
	case bool:
		return "true or false"
	case []string:
		return `a list of strings, e.g. ["/opt/julia"]`
	case map[string]string:
		return `a map of strings, e.g. { interpreter = "/usr/bin/python3" }`
	}
	return fmt.Sprintf("%T", v)
}

// size decodes a count of unit-sized blocks (MiB, KiB) into bytes.
func (d *decoder) size(a *hcl.Attribute, key string, unit int64, dst *int64) {
	n, ok := decodeAttr[int64](d, a, key)
	if !ok {
		return
	}
	if n > math.MaxInt64/unit || n < math.MinInt64/unit {
		d.diags = append(d.diags, d.c.problem(key, "Invalid "+a.Name,
			fmt.Sprintf("%s = %d is far too large; expected a size such as 64.", a.Name, n)))
		return
	}
	*dst = n * unit
}

// duration decodes a time.ParseDuration string such as "10s".
func (d *decoder) duration(a *hcl.Attribute, key string, dst *time.Duration) {
	s, ok := decodeAttr[string](d, a, key)
	if !ok {
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.diags = append(d.diags, d.c.problem(key, "Invalid "+a.Name,
			fmt.Sprintf("%s = %q: %s; expected a Go duration such as \"10s\" or \"500ms\".", a.Name, s, durationReason(err, s))))
		return
	}
	*dst = v
}

// durationReason is err without the "time: " prefix and the quoted input.
func durationReason(err error, s string) string {
	r := strings.TrimPrefix(err.Error(), "time: ")
	return strings.TrimSuffix(r, " "+strconv.Quote(s))
}

// path resolves p against the config file's directory.
func (d *decoder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}
