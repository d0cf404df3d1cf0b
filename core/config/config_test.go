package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

var update = flag.Bool("update", false, "update the golden files in testdata/errors")

// overlayVars are the environment variables Overlay reads.
var overlayVars = []string{
	"RETOOL_PLUGIN_DIR", "RETOOL_LOG_LEVEL", "RETOOL_SANDBOX_BACKEND",
	"RETOOL_SERVER_ADDR", "RETOOL_SERVER_TOKEN", "RETOOL_POOL_SIZE",
	"RETOOL_SANDBOX_CONTAINERD_SOCKET", "RETOOL_SANDBOX_CONTAINERD_RUNTIME", "RETOOL_SANDBOX_CONTAINERD_IMAGE",
}

// clearEnv empties every RETOOL_* variable for the test (viper ignores
// empty ones), so the caller's environment cannot leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range overlayVars {
		t.Setenv(k, "")
	}
}

// checkGolden compares got with testdata/errors/<name>.golden, rewriting it
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", "errors", name+".golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the error\n--- got:\n%s--- want:\n%s", golden, got, want)
	}
}

func mustParse(t *testing.T, src, filename string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), filename)
	if err != nil {
		t.Fatalf("Parse(%s): %v", filename, err)
	}
	return c
}

func TestDefaultFileIsRepoConfig(t *testing.T) {
	repo, err := os.ReadFile(filepath.Join("..", "..", "retool.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(repo, defaultHCL) {
		t.Fatal("core/config/default.hcl and the repository's retool.hcl differ: keep them byte-identical")
	}
}

func TestDefault(t *testing.T) {
	clearEnv(t)
	c := Default()
	if c.LogLevel != "info" || c.Sandbox.Backend != "native" || c.Sandbox.WorkDirBytes != 64<<20 ||
		c.Sandbox.AllowNetwork || len(c.Sandbox.ReadOnlyPaths) != 0 || c.Server.Addr != "" || c.Server.MaxQueue != DefaultMaxQueue || c.Path != "" {
		t.Errorf("Default() = %+v", c)
	}
	if cd, err := os.UserConfigDir(); err == nil && c.PluginDir != filepath.Join(cd, "retool", "plugins") {
		t.Errorf("PluginDir = %q, want under %q", c.PluginDir, cd)
	}
	var names []string
	for _, r := range c.Runtimes {
		names = append(names, r.Name)
		if r.PoolSize != map[string]int{"python": 8, "sympy": 4}[r.Name] || r.Limits != DefaultLimits || r.Settings["interpreter"] != "/usr/bin/python3" {
			t.Errorf("runtime %s = %+v", r.Name, r)
		}
	}
	if strings.Join(names, ",") != "python,sympy" {
		t.Errorf("runtimes = %v, want python,sympy", names)
	}
	if _, ok := c.Runtime("julia"); ok {
		t.Error(`Default() has a "julia" runtime`)
	}
	if c.Job == nil || c.Job.Kind != "train" || c.Job.Train == nil {
		t.Fatalf("Job = %+v, want the train job", c.Job)
	}
	tr := c.Job.Train
	if tr.RunDir != "runs/retool" || tr.Seeds != 3 || strings.Join(tr.Arms, ",") != "retool,text" ||
		tr.RL.Algorithm != "grpo" || strings.Join(tr.RL.Tools, ",") != "python,sympy" {
		t.Errorf("Train = %+v", tr)
	}
	q, err := c.Profile("quick")
	if err != nil {
		t.Fatal(err)
	}
	// The profile overrides what it names and keeps the rest.
	if q.Seeds != 1 || q.RL.Steps >= tr.RL.Steps || q.RunDir != "runs/retool-quick" || q.RL.Group != tr.RL.Group || q.Model != tr.Model {
		t.Errorf("quick = %+v", q)
	}
	if c.Job.Train.Seeds != 3 {
		t.Error("Profile changed the job it was applied to")
	}
	if _, err := c.Profile("slow"); err == nil || !strings.Contains(err.Error(), "defined: bench, quick") {
		t.Errorf("unknown profile: %v", err)
	}

	t.Setenv("RETOOL_PLUGIN_DIR", "/srv/plugins")
	if got := Default().PluginDir; got != "/srv/plugins" {
		t.Errorf("with RETOOL_PLUGIN_DIR, PluginDir = %q", got)
	}
}

func TestLoadRepoConfig(t *testing.T) {
	clearEnv(t)
	path := filepath.Join("..", "..", "retool.hcl")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Path != path {
		t.Errorf("Path = %q", c.Path)
	}
	if got, want := c.Job.Train.RunDir, filepath.Join("..", "..", d.Job.Train.RunDir); got != want {
		t.Errorf("RunDir = %q, want %q", got, want)
	}
	c.Job.Train.RunDir, c.Path, c.src, d.src = d.Job.Train.RunDir, "", nil, nil
	if !equalConfig(c, d) {
		t.Errorf("Load(retool.hcl) = %+v\nwant Default() = %+v", c, d)
	}
}

func equalConfig(a, b *Config) bool {
	if a.PluginDir != b.PluginDir || a.LogLevel != b.LogLevel || a.Server != b.Server || a.Path != b.Path ||
		a.Sandbox.Backend != b.Sandbox.Backend || a.Sandbox.WorkDirBytes != b.Sandbox.WorkDirBytes ||
		a.Sandbox.AllowNetwork != b.Sandbox.AllowNetwork ||
		strings.Join(a.Sandbox.ReadOnlyPaths, "\x00") != strings.Join(b.Sandbox.ReadOnlyPaths, "\x00") ||
		(a.Job == nil) != (b.Job == nil) || (a.Job != nil && !equalJob(a.Job, b.Job)) || len(a.Runtimes) != len(b.Runtimes) {
		return false
	}
	for i := range a.Runtimes {
		ra, rb := a.Runtimes[i], b.Runtimes[i]
		if ra.Name != rb.Name || ra.PoolSize != rb.PoolSize || ra.Limits != rb.Limits || len(ra.Settings) != len(rb.Settings) {
			return false
		}
		for k, v := range ra.Settings {
			if rb.Settings[k] != v {
				return false
			}
		}
	}
	return true
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if err == nil || !strings.Contains(err.Error(), "nope.hcl") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	clearEnv(t)
	c := mustParse(t, `
log_level = "debug"
sandbox {
  backend         = "none"
  read_only_paths = ["/opt/julia"]
}
runtime "python" {
  pool_size = 4
  limits {
    wall_time = "3s"
    memory_mb = 256
  }
}
runtime "julia" {
  settings = { julia = "/opt/julia/bin/julia" }
}
server {
  token = "t"
}
`, "retool.hcl")

	if c.LogLevel != "debug" || c.Sandbox.Backend != "none" || c.Sandbox.WorkDirBytes != 64<<20 ||
		strings.Join(c.Sandbox.ReadOnlyPaths, ",") != "/opt/julia" {
		t.Errorf("top level / sandbox = %+v", c)
	}
	py, _ := c.Runtime("python")
	wantLimits := DefaultLimits
	wantLimits.WallTime, wantLimits.MemoryBytes = 3*time.Second, 256<<20
	if py.PoolSize != 4 || py.Limits != wantLimits || py.Settings["interpreter"] != "/usr/bin/python3" {
		t.Errorf("python = %+v", py)
	}
	if sy, _ := c.Runtime("sympy"); sy.PoolSize != 4 || sy.Limits != DefaultLimits {
		t.Errorf("sympy = %+v", sy)
	}
	jl, ok := c.Runtime("julia")
	if !ok || jl.PoolSize != DefaultPoolSize || jl.Limits != DefaultLimits || jl.Settings["julia"] != "/opt/julia/bin/julia" {
		t.Errorf("julia = %+v, %v", jl, ok)
	}
	if c.Server != (Server{Addr: DefaultServerAddr, Token: "t", MaxQueue: DefaultMaxQueue, MaxBodyBytes: DefaultMaxBody, SessionIdle: DefaultSessionIdle}) {
		t.Errorf("Server = %+v", c.Server)
	}
	if c.Job != nil {
		t.Errorf("Job = %+v; a file without a job block has none", c.Job)
	}
	if _, ok := c.Runtime("ruby"); ok {
		t.Error(`Runtime("ruby") found`)
	}
}

func TestRelativePaths(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, traces, pluginDir string
		wantTraces, wantPlugins string
	}{
		{"relative", "data/t.jsonl", "plugins", "data/t.jsonl", "plugins"},
		{"dot-dot", "../t.jsonl", "../plugins", "../t.jsonl", "../plugins"},
		{"absolute", "/data/t.jsonl", "/srv/plugins", "/data/t.jsonl", "/srv/plugins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "conf")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "retool.hcl")
			src := "plugin_dir = \"" + tt.pluginDir + "\"\njob \"replay\" {\n  traces = \"" + tt.traces + "\"\n}\n"
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			want := func(p string) string {
				if filepath.IsAbs(p) {
					return p
				}
				return filepath.Join(dir, p)
			}
			if c.Job.Traces != want(tt.wantTraces) {
				t.Errorf("Traces = %q, want %q", c.Job.Traces, want(tt.wantTraces))
			}
			if c.PluginDir != want(tt.wantPlugins) {
				t.Errorf("PluginDir = %q, want %q", c.PluginDir, want(tt.wantPlugins))
			}
			if c.Job.Limit != 0 || c.Job.Concurrency != DefaultConcurrency || c.Job.Language != DefaultLanguage {
				t.Errorf("job defaults = %+v", c.Job)
			}
		})
	}
}

// filePos is how every problem found in a file must start.
var filePos = regexp.MustCompile(`^testdata/errors/[a-z_]+\.hcl:\d+:\d+: \S`)

func TestErrorsGolden(t *testing.T) {
	clearEnv(t)
	ram := totalRAM
	totalRAM = func() int64 { return 8 << 30 }
	t.Cleanup(func() { totalRAM = ram })

	tests := []struct {
		name string // testdata/errors/<name>.hcl and .golden
		want string // a line the error must contain
	}{
		{"typo_attribute", `typo_attribute.hcl:7:3: Unsupported argument; An argument named "pool_szie" is not expected here. Did you mean "pool_size"?`},
		{"typo_block", `Did you mean "sandbox"?`},
		{"wrong_types", `Invalid pool_size; got 2.5, expected a whole number.`},
		{"bad_limits", `Invalid pool_size; pool_size = -1 is out of range`},
		{"memory_above_ram", `memory_mb = 9000 exceeds this machine's RAM`},
		{"bad_duration", `wall_time = "10": missing unit in duration`},
		{"unknown_backend", `backend = "nativ" is not a sandbox backend; expected "native", "none" or "containerd". Did you mean "native"?`},
		{"server_without_token", `Missing server token`},
		{"server_bad_addr", `missing port in address`},
		{"job_problems", `Unknown job language`},
		{"job_kind", `job "repaly" is not a job kind; expected "train" or "replay". Did you mean "replay"?`},
		{"train_problems", `Invalid heads`},
		{"duplicate_runtime", `runtime "python" is already defined at testdata/errors/duplicate_runtime.hcl:1:9`},
		{"duplicate_job", `Duplicate job block; Only one job block is allowed.`},
		{"empty_traces", `traces is empty`},
		{"syntax_error", `Invalid expression`},
		{"containerd_block", `containerd_block.hcl:7:5: Unsupported argument; An argument named "snapshoter" is not expected here. Did you mean "snapshotter"?`},
		{"containerd_invalid", `containerd_invalid.hcl:4:17: Invalid containerd socket; socket = "run/containerd/containerd.sock" is not an absolute path`},
		{"missing_label", `Missing name for runtime`},
		{"relative_read_only_path", `is not an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("testdata/errors/" + tt.name + ".hcl")
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Diagnostics) == 0 {
				t.Fatalf("error %T is not a *config.Error with diagnostics", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error does not contain %q:\n%s", tt.want, msg)
			}
			for _, line := range strings.Split(msg, "\n") {
				if !filePos.MatchString(line) {
					t.Errorf("line without file:line:col: %q", line)
				}
			}
			checkGolden(t, tt.name, []byte(msg+"\n"))
		})
	}
}

func TestMemoryAboveRealRAM(t *testing.T) {
	clearEnv(t)
	_, err := Parse([]byte("runtime \"python\" {\n  limits {\n    memory_mb = 1099511627776\n  }\n}\n"), "retool.hcl")
	if err == nil || !strings.HasPrefix(err.Error(), "retool.hcl:3:17: Invalid memory_mb; memory_mb = 1099511627776 ") {
		t.Fatalf("err = %v", err)
	}
	_, err = Parse([]byte("sandbox {\n  work_dir_mb = 9223372036854775807\n}\n"), "retool.hcl")
	if err == nil || !strings.HasPrefix(err.Error(), "retool.hcl:2:17: Invalid work_dir_mb; work_dir_mb = 9223372036854775807 is far too large") {
		t.Fatalf("err = %v", err)
	}
}

func TestJSONSyntax(t *testing.T) {
	clearEnv(t)
	c := mustParse(t, `{"log_level": "warn", "runtime": {"python": {"pool_size": 3}}}`, "retool.hcl.json")
	if py, _ := c.Runtime("python"); c.LogLevel != "warn" || py.PoolSize != 3 {
		t.Errorf("got %+v", c)
	}
	_, err := Parse([]byte(`{"log_levle": "warn"}`), "retool.hcl.json")
	if err == nil || !strings.HasPrefix(err.Error(), "retool.hcl.json:1:2: ") {
		t.Errorf("err = %v", err)
	}
}

// newFlags is a command's flag set bound to v under the overlay keys.
func newFlags(t *testing.T, v *viper.Viper, args ...string) {
	t.Helper()
	fs := pflag.NewFlagSet("retool", pflag.ContinueOnError)
	fs.String("plugin-dir", "", "")
	fs.String("log-level", "info", "")
	fs.String("sandbox", "native", "")
	fs.String("addr", "", "")
	fs.String("token", "", "")
	fs.Int("pool-size", 2, "")
	for flag, key := range map[string]string{
		"plugin-dir": "plugin_dir", "log-level": "log_level", "sandbox": "sandbox.backend",
		"addr": "server.addr", "token": "server.token", "pool-size": "pool_size",
	} {
		if err := v.BindPFlag(key, fs.Lookup(flag)); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
}

func TestOverlay(t *testing.T) {
	const file = `
log_level = "warn"
sandbox {
  backend = "none"
}
runtime "julia" {
  pool_size = 1
}
`
	type want struct {
		pluginDir, logLevel, backend, addr, token string
		poolSize                                  int // of every runtime; 0: as in the file
	}
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  want
	}{
		{"file only", nil, nil, want{"/p", "warn", "none", "", "", 0}},
		{"unchanged flags keep the file", nil, []string{}, want{"/p", "warn", "none", "", "", 0}},
		{"env over file", map[string]string{
			"RETOOL_PLUGIN_DIR": "/env/plugins", "RETOOL_LOG_LEVEL": "debug", "RETOOL_SANDBOX_BACKEND": "native",
			"RETOOL_SERVER_ADDR": "0.0.0.0:9000", "RETOOL_SERVER_TOKEN": "tok", "RETOOL_POOL_SIZE": "5",
		}, nil, want{"/env/plugins", "debug", "native", "0.0.0.0:9000", "tok", 5}},
		{"flags over env", map[string]string{
			"RETOOL_LOG_LEVEL": "debug", "RETOOL_POOL_SIZE": "5", "RETOOL_SANDBOX_BACKEND": "containerd",
		}, []string{"--log-level=error", "--pool-size=7", "--plugin-dir=/flag/plugins", "--addr=127.0.0.1:1"},
			want{"/flag/plugins", "error", "containerd", "127.0.0.1:1", "", 7}},
		{"pool size zero", map[string]string{"RETOOL_POOL_SIZE": "0"}, nil, want{"/p", "warn", "none", "", "", -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("RETOOL_PLUGIN_DIR", "/p") // the file's default plugin_dir
			c := mustParse(t, file, "retool.hcl")
			t.Setenv("RETOOL_PLUGIN_DIR", "")
			for k, val := range tt.env {
				t.Setenv(k, val)
			}
			v := viper.New()
			if tt.flags != nil {
				newFlags(t, v, tt.flags...)
			}
			if err := c.Overlay(v); err != nil {
				t.Fatal(err)
			}
			got := want{c.PluginDir, c.LogLevel, c.Sandbox.Backend, c.Server.Addr, c.Server.Token, 0}
			w := tt.want
			for _, r := range c.Runtimes {
				wantPool := map[string]int{"python": 8, "sympy": 4, "julia": 1}[r.Name]
				switch {
				case w.poolSize > 0:
					wantPool = w.poolSize
				case w.poolSize < 0:
					wantPool = 0
				}
				if r.PoolSize != wantPool {
					t.Errorf("runtime %s pool_size = %d, want %d", r.Name, r.PoolSize, wantPool)
				}
			}
			w.poolSize = 0
			if got != w {
				t.Errorf("got %+v, want %+v", got, w)
			}
		})
	}
}

func TestContainerdSettings(t *testing.T) {
	clearEnv(t)
	def := mustParse(t, "", "retool.hcl")
	want := Containerd{Socket: "/run/containerd/containerd.sock", Namespace: "retool",
		Runtime: "io.containerd.runc.v2", StateDir: "/run/retool/containerd"}
	if def.Sandbox.Containerd != want {
		t.Errorf("defaults: %+v, want %+v", def.Sandbox.Containerd, want)
	}
	c := mustParse(t, `
sandbox {
  backend = "containerd"
  containerd {
    socket      = "/srv/ctrd.sock"
    namespace   = "rl-team"
    image       = "registry.local/py:3.11"
    snapshotter = "native"
  }
}
`, "retool.hcl")
	want = Containerd{Socket: "/srv/ctrd.sock", Namespace: "rl-team", Runtime: "io.containerd.runc.v2",
		Image: "registry.local/py:3.11", Snapshotter: "native", StateDir: "/run/retool/containerd"}
	if c.Sandbox.Backend != "containerd" || c.Sandbox.Containerd != want {
		t.Errorf("file: %q %+v, want %+v", c.Sandbox.Backend, c.Sandbox.Containerd, want)
	}
	t.Setenv("RETOOL_SANDBOX_CONTAINERD_SOCKET", "/env/ctrd.sock")
	t.Setenv("RETOOL_SANDBOX_CONTAINERD_RUNTIME", "io.containerd.runsc.v1")
	if err := c.Overlay(viper.New()); err != nil {
		t.Fatal(err)
	}
	if got := c.Sandbox.Containerd; got.Socket != "/env/ctrd.sock" || got.Runtime != "io.containerd.runsc.v1" || got.Image != want.Image {
		t.Errorf("env over file: %+v", got)
	}
	t.Setenv("RETOOL_SANDBOX_CONTAINERD_SOCKET", "ctrd.sock")
	err := c.Overlay(viper.New())
	if err == nil || !strings.Contains(err.Error(), "RETOOL_SANDBOX_CONTAINERD_SOCKET (environment): Invalid containerd socket") {
		t.Errorf("relative socket from the environment: %v", err)
	}
}

func TestOverlayErrors(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  string // the whole error
	}{
		{"pool size not a number", map[string]string{"RETOOL_POOL_SIZE": "abc"}, nil,
			`RETOOL_POOL_SIZE (environment): Invalid pool_size; "abc" is not a whole number; expected 0 to 256 warm workers per runtime.`},
		{"negative pool size", map[string]string{"RETOOL_POOL_SIZE": "-1"}, nil,
			`RETOOL_POOL_SIZE (environment): Invalid pool_size; pool_size = -1 is out of range; expected 0 to 256 warm workers.`},
		{"negative pool size flag", nil, []string{"--pool-size=-2"},
			`pool_size (flag): Invalid pool_size; pool_size = -2 is out of range; expected 0 to 256 warm workers.`},
		{"unknown backend", map[string]string{"RETOOL_SANDBOX_BACKEND": "docker"}, nil,
			`RETOOL_SANDBOX_BACKEND (environment): Unknown sandbox backend; backend = "docker" is not a sandbox backend; expected "native", "none" or "containerd".`},
		{"bad log level", map[string]string{"RETOOL_LOG_LEVEL": "warning"}, nil,
			`RETOOL_LOG_LEVEL (environment): Invalid log_level; log_level = "warning" is not a log level; expected "trace", "debug", "info", "warn" or "error".`},
		{"public addr without token", map[string]string{"RETOOL_SERVER_ADDR": ":8080"}, nil,
			`RETOOL_SERVER_ADDR (environment): Missing server token; addr = ":8080" is not a loopback address, so a token is required; expected token = "..." in the server block or RETOOL_SERVER_TOKEN (or a loopback addr such as "127.0.0.1:8080").`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			c := Default()
			for k, val := range tt.env {
				t.Setenv(k, val)
			}
			v := viper.New()
			if tt.flags != nil {
				newFlags(t, v, tt.flags...)
			}
			err := c.Overlay(v)
			if err == nil {
				t.Fatal("Overlay succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}

	t.Run("token makes a public addr valid", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("RETOOL_SERVER_ADDR", "0.0.0.0:8080")
		t.Setenv("RETOOL_SERVER_TOKEN", "s3cret")
		c := Default()
		if err := c.Overlay(viper.New()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEvalBlock(t *testing.T) {
	clearEnv(t)
	c, err := Parse([]byte(`eval {
  data     = "aime2024"
  template = "hermes"
  base_url = "http://127.0.0.1:8000/v1"
  model    = "m"
  n        = 32
  k        = [1, 8, 32]
  top_p    = 0.7
  stateful = true
}
`), "eval.hcl")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Eval
	if e.Data != "aime2024" || e.Template != "hermes" || e.N != 32 || len(e.K) != 3 || e.K[2] != 32 || !e.Stateful ||
		e.Temperature != 1.0 || e.MaxToolCalls != 8 {
		t.Fatalf("eval = %+v", e)
	}
	if d := Default().Eval; d.N != 1 || d.Template != "retool" || d.TopP != 0.7 {
		t.Fatalf("default eval = %+v", d)
	}
	for src, want := range map[string]string{
		"eval {\n  n = 0\n}\n":         "eval.hcl:2:7: Invalid n",
		"eval {\n  top_p = 1.5\n}\n":   "eval.hcl:2:11: Invalid top_p",
		"eval {\n  modle = \"m\"\n}\n": `eval.hcl:2:3: Unsupported argument; An argument named "modle" is not expected here. Did you mean "model"?`,
	} {
		if _, err := Parse([]byte(src), "eval.hcl"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func equalJob(a, b *Job) bool {
	if (a.Train == nil) != (b.Train == nil) {
		return false
	}
	if a.Train != nil {
		ta, tb := *a.Train, *b.Train
		ta.dir, tb.dir = "", ""
		if !reflect.DeepEqual(ta.Profiles(), tb.Profiles()) {
			return false
		}
		ta.profiles, tb.profiles = nil, nil
		if !reflect.DeepEqual(ta, tb) {
			return false
		}
	}
	x, y := *a, *b
	x.Train, y.Train = nil, nil
	return x == y
}
