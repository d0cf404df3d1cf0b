// Command retool is the CLI: plugin install|list|info|remove, exec, run,
// doctor and version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/host"
	"github.com/retool-rl/retool/core/job"
	"github.com/retool-rl/retool/core/orchestrator"
	"github.com/retool-rl/retool/core/server"
	"github.com/retool-rl/retool/core/sysmon"
	"github.com/retool-rl/retool/plugins/install"
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/policy"
	"github.com/retool-rl/retool/trainer/recipe"
	"github.com/retool-rl/retool/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		// The program's own exit status needs no message of ours.
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "retool: "+strings.ReplaceAll(err.Error(), "\n", "\n  "))
		os.Exit(1)
	}
}

// exitError carries a status for `retool exec` without another message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

type app struct {
	v          *viper.Viper
	configPath string
}

func newRoot() *cobra.Command {
	a := &app{v: viper.New()}
	root := &cobra.Command{
		Use:           "retool",
		Short:         "Tool-integrated RL: sandboxed code runtimes, rollouts and training",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "config file (default: ./retool.hcl if present, else the embedded defaults)")
	pf.String("plugin-dir", "", "plugin directory (env RETOOL_PLUGIN_DIR)")
	pf.String("log-level", "", "trace|debug|info|warn|error (env RETOOL_LOG_LEVEL)")
	pf.String("sandbox", "", "sandbox backend: native|containerd|none (env RETOOL_SANDBOX_BACKEND)")
	pf.Int("pool-size", 0, "warm workers per runtime (env RETOOL_POOL_SIZE)")
	for key, flag := range map[string]string{"plugin_dir": "plugin-dir", "log_level": "log-level",
		"sandbox.backend": "sandbox", "pool_size": "pool-size"} {
		_ = a.v.BindPFlag(key, pf.Lookup(flag))
	}
	root.AddCommand(a.versionCmd(), a.doctorCmd(), a.pluginCmd(), a.execCmd(), a.runCmd(), a.serveCmd(), a.gradeCmd(), a.evalCmd(), a.imageCmd())
	return root
}

// config loads the file (or defaults) and overlays env and flags.
func (a *app) config(path string) (*config.Config, error) {
	if path == "" {
		path = a.configPath
	}
	if path == "" {
		if _, err := os.Stat("retool.hcl"); err == nil {
			path = "retool.hcl"
		}
	}
	var cfg *config.Config
	var err error
	if path == "" {
		cfg = config.Default()
	} else if cfg, err = config.Load(path); err != nil {
		return nil, err
	}
	if err := cfg.Overlay(a.v); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (a *app) logger(cfg *config.Config) hclog.Logger {
	level := hclog.LevelFromString(cfg.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	// Plugins log at info; the CLI shows warnings unless asked for more.
	if level < hclog.Warn && cfg.LogLevel == "info" {
		level = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{Name: "retool", Level: level, Output: os.Stderr})
}

func (a *app) dir(cfg *config.Config) *install.Dir {
	return &install.Dir{Root: cfg.PluginDir, Probe: orchestrator.Prober{}, ProtocolVersion: sdk.ProtocolVersion}
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print retool's version", Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "retool %s (runtime protocol %d)\n", version.Version, sdk.ProtocolVersion)
		},
	}
}

func (a *app) doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use: "doctor", Short: "Report what this host offers the sandbox", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			opts := host.Options{ContainerdSocket: cfg.Sandbox.Containerd.Socket}
			if r, ok := cfg.Runtime("python"); ok {
				opts.Python = r.Settings["interpreter"]
			}
			if r, ok := cfg.Runtime("julia"); ok {
				opts.Julia = r.Settings["interpreter"]
			}
			rep := host.Probe(cmd.Context(), opts)
			return rep.Write(cmd.OutOrStdout())
		},
	}
}

func (a *app) pluginCmd() *cobra.Command {
	c := &cobra.Command{Use: "plugin", Short: "Install, list, inspect and remove runtime plugins"}
	var force bool
	installCmd := &cobra.Command{
		Use:   "install SOURCE",
		Short: "Install a plugin from a binary, a directory, a .tar.gz release or an http(s) URL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			m, err := a.dir(cfg).Install(cmd.Context(), args[0], install.Options{Force: force, Progress: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s %s (%s) sha256:%s\n", m.Name, m.Version, strings.Join(m.Languages, ", "), m.SHA256[:12])
			return nil
		},
	}
	installCmd.Flags().BoolVar(&force, "force", false, "replace an installed plugin of the same name")
	list := &cobra.Command{
		Use: "list", Short: "List installed plugins", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			ms, err := a.dir(cfg).List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tLANGUAGES\tSHA256\tPATH")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Version, strings.Join(m.Languages, ","), m.SHA256[:12], m.Binary)
			}
			return tw.Flush()
		},
	}
	info := &cobra.Command{
		Use: "info NAME", Short: "Show an installed plugin and verify its checksum", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			d := a.dir(cfg)
			m, err := d.Get(args[0])
			if err != nil {
				return err
			}
			verified := "ok"
			if err := d.Verify(m); err != nil {
				verified = err.Error()
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name:          %s\nversion:       %s\nlanguages:     %s\ncapabilities:  %s\nprotocol:      %d\nbinary:        %s\nsha256:        %s\nverified:      %s\nsource:        %s\ninstalled at:  %s\n",
				m.Name, m.Version, strings.Join(m.Languages, ", "), strings.Join(m.Capabilities, ", "), m.ProtocolVersion,
				m.Binary, m.SHA256, verified, m.Source, m.InstalledAt.Format(time.RFC3339))
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Remove an installed plugin", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			if err := a.dir(cfg).Remove(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	c.AddCommand(installCmd, list, info, remove)
	return c
}

func (a *app) execCmd() *cobra.Command {
	var lang, code, file, stdin string
	var timeout time.Duration
	var memoryMB int
	var verbose bool
	c := &cobra.Command{
		Use:   "exec --lang LANG (-c CODE | -f FILE)",
		Short: "Run code once in the sandbox through the runtime plugin for LANG",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lang == "" {
				return errors.New("--lang is required (python, sympy, julia, or any installed runtime's language)")
			}
			if (code == "") == (file == "") {
				return errors.New("give exactly one of -c CODE or -f FILE")
			}
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				code = string(b)
			}
			req := &execution.Request{Language: lang, Code: code,
				Limits: execution.Limits{WallTime: timeout, MemoryBytes: int64(memoryMB) << 20}}
			if stdin != "" {
				var r io.Reader = cmd.InOrStdin()
				if stdin != "-" {
					f, err := os.Open(stdin)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				b, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				req.Stdin = b
			}
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			// One worker is enough for a single execution.
			for i := range cfg.Runtimes {
				cfg.Runtimes[i].PoolSize = 1
			}
			o := orchestrator.New(cfg, a.dir(cfg), a.logger(cfg))
			defer o.Close()
			res, err := o.Execute(cmd.Context(), req)
			if err != nil {
				return err
			}
			cmd.OutOrStdout().Write(res.Stdout)
			cmd.ErrOrStderr().Write(res.Stderr)
			if verbose || res.Status != execution.Finished && res.Status != execution.Failed {
				fmt.Fprintf(cmd.ErrOrStderr(), "[%s exit=%d signal=%d wall=%s cpu=%s peak=%dKiB%s%s]\n", res.Status, res.ExitCode, res.Signal,
					res.WallTime.Round(time.Microsecond), res.CPUTime.Round(time.Microsecond), res.PeakMemory>>10,
					prefixed(" ", res.Message), prefixed(" degraded: ", strings.Join(res.Degraded, "; ")))
			}
			switch {
			case res.Status == execution.Finished:
				return nil
			case res.ExitCode > 0:
				return exitError(res.ExitCode)
			}
			return exitError(1)
		},
	}
	f := c.Flags()
	f.StringVarP(&lang, "lang", "l", "", "language (selects the runtime plugin)")
	f.StringVarP(&code, "code", "c", "", "code to run")
	f.StringVarP(&file, "file", "f", "", "file with the code to run")
	f.StringVar(&stdin, "stdin", "", "file to feed as stdin, or - for retool's own stdin")
	f.DurationVar(&timeout, "timeout", 0, "wall-clock limit (default: the runtime's)")
	f.IntVar(&memoryMB, "memory-mb", 0, "memory limit in MiB (default: the runtime's)")
	f.BoolVarP(&verbose, "verbose", "v", false, "print status, times and memory after the output")
	return c
}

func (a *app) serveCmd() *cobra.Command {
	var modelDir string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve executions over HTTP: SandboxFusion's /run_code and /run_jupyter, retool's /v1 API, /metrics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The server wakes about once an execution: see package sysmon.
			// Before anything starts; on failure it serves as it is.
			sysmonErr := sysmon.Reexec()
			cfg, err := a.config("")
			if err != nil {
				return err
			}
			if cfg.Server.Addr == "" {
				cfg.Server.Addr = config.DefaultServerAddr
			}
			log := a.logger(cfg)
			if cfg.LogLevel == "info" {
				log.SetLevel(hclog.Info)
			}
			if sysmonErr != nil {
				log.Warn("serving without the scheduler setting", "error", sysmonErr)
			}
			o := orchestrator.New(cfg, a.dir(cfg), log)
			defer o.Close()
			t0 := time.Now()
			if err := o.Start(cmd.Context()); err != nil {
				return err
			}
			if len(o.Running()) == 0 {
				return errors.New("no runtime plugins installed; run `retool plugin install` first")
			}
			log.Info("runtimes warm", "runtimes", strings.Join(o.Running(), ","), "took", time.Since(t0).Round(time.Millisecond))
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			go o.Watch(ctx, time.Second)
			var completions http.Handler
			if modelDir != "" {
				h, closeModel, err := completionsHandler(modelDir)
				if err != nil {
					return err
				}
				defer closeModel()
				completions = h
				log.Info("serving the embedded model on /v1/completions", "model", h.Model, "checkpoint", modelDir)
			}
			srv := server.New(server.Config{Executor: o, Logger: log.Named("http"), Token: cfg.Server.Token,
				MaxQueue: cfg.Server.MaxQueue, MaxBodyBytes: cfg.Server.MaxBodyBytes, SessionIdle: cfg.Server.SessionIdle,
				Completions: completions})
			defer srv.Close()
			hs := &http.Server{Addr: cfg.Server.Addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout: 2 * time.Minute}
			ln, err := net.Listen("tcp", cfg.Server.Addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
			}
			log.Info("serving", "addr", ln.Addr().String(), "auth", cfg.Server.Token != "")
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			// Drain: stop accepting, let executions in flight finish.
			log.Info("shutting down; draining executions in flight")
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&modelDir, "model", "", "also serve this embedded-model checkpoint (a directory with model.safetensors) on /v1/completions")
	c.Flags().String("addr", "", "listen address (default 127.0.0.1:8080; a non-loopback address needs a token)")
	c.Flags().String("token", "", "bearer token clients must send (env RETOOL_SERVER_TOKEN)")
	_ = a.v.BindPFlag("server.addr", c.Flags().Lookup("addr"))
	_ = a.v.BindPFlag("server.token", c.Flags().Lookup("token"))
	return c
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func (a *app) runCmd() *cobra.Command {
	var profile string
	c := &cobra.Command{
		Use:   "run [retool.hcl]",
		Short: "Run the job a config file defines (the embedded defaults when none is given)",
		Long: `run executes the job block of a config file. The default retool.hcl defines the
train job, ReTool in miniature: cold start, RL with the sandbox, evaluation on held-out
problems, for the ReTool arm and the text-only baseline; it writes its run directory
(metrics.jsonl, checkpoints, sample trajectories, report.md with plots) and resumes a
killed run from its last checkpoint. --profile applies one of the job's profile blocks.`,
		Example: `  retool run retool.hcl
  retool run retool.hcl --profile quick`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := a.config(path)
			if err != nil {
				return err
			}
			if cfg.Job == nil {
				return fmt.Errorf("%s defines no job block", cfg.Path)
			}
			switch {
			case cfg.Job.Kind == "train":
				return a.runTrain(cmd, cfg, profile)
			case profile != "":
				return fmt.Errorf("--profile applies to the train job; %s defines job %q", cfg.Path, cfg.Job.Kind)
			}
			return a.runReplay(cmd, cfg)
		},
	}
	c.Flags().StringVar(&profile, "profile", "", "apply the job's profile block of this name (e.g. quick)")
	return c
}

// startRuntimes starts the orchestrator's plugins and its health watch;
// the returned stop function closes both.
func (a *app) startRuntimes(cmd *cobra.Command, cfg *config.Config) (*orchestrator.Orchestrator, func(), error) {
	o := orchestrator.New(cfg, a.dir(cfg), a.logger(cfg))
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "starting runtime plugins from %s\n", cfg.PluginDir)
	t0 := time.Now()
	if err := o.Start(cmd.Context()); err != nil {
		o.Close()
		return nil, nil, err
	}
	fmt.Fprintf(out, "runtimes warm in %s: %s\n", time.Since(t0).Round(time.Millisecond), strings.Join(o.Running(), ", "))
	wctx, stopWatch := context.WithCancel(cmd.Context())
	go o.Watch(wctx, 2*time.Second)
	return o, func() { stopWatch(); o.Close() }, nil
}

func (a *app) runReplay(cmd *cobra.Command, cfg *config.Config) error {
	traces, err := job.LoadTraces(cfg.Job.Traces, cfg.Job.Limit)
	if err != nil {
		return err
	}
	o, stop, err := a.startRuntimes(cmd, cfg)
	if err != nil {
		return err
	}
	defer stop()
	out := cmd.OutOrStdout()
	bar := progressbar.NewOptions(len(traces), progressbar.OptionSetWriter(cmd.ErrOrStderr()),
		progressbar.OptionSetDescription("replay "+filepath.Base(cfg.Job.Traces)), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	rep := job.Replay(cmd.Context(), o, traces, cfg.Job.Language, cfg.Job.Concurrency, func() { _ = bar.Add(1) })
	_ = bar.Finish()
	rep.Write(out)
	if rep.Errors > 0 {
		return fmt.Errorf("%d executions were refused or not attempted", rep.Errors)
	}
	return nil
}

func (a *app) runTrain(cmd *cobra.Command, cfg *config.Config, profile string) error {
	t, err := cfg.Profile(profile)
	if err != nil {
		return err
	}
	o, stop, err := a.startRuntimes(cmd, cfg)
	if err != nil {
		return err
	}
	defer stop()
	out := cmd.OutOrStdout()
	if profile != "" {
		fmt.Fprintf(out, "profile %s\n", profile)
	}
	fmt.Fprintf(out, "run directory %s\n", t.RunDir)
	r := &recipe.Runner{Cfg: t, Exec: o, Out: out, Progress: cmd.ErrOrStderr()}
	res, err := r.Run(cmd.Context())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%s\nreport: %s\n", recipe.Table(res), filepath.Join(t.RunDir, "report.md"))
	return nil
}

// completionsHandler loads an embedded-model checkpoint and serves it as
// an OpenAI-compatible completions server, named after its directory.
func completionsHandler(dir string) (*policy.Handler, func(), error) {
	m, err := model.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	emb, err := policy.NewEmbedded(m)
	if err != nil {
		return nil, nil, err
	}
	name := filepath.Base(filepath.Clean(dir))
	return &policy.Handler{Policy: emb, Model: name, MaxTokens: m.Config().MaxPositionEmbeddings}, emb.Close, nil
}
