// Command serve is retool's load and fault harness for `retool serve`.
// It starts the server it measures (from bin/, after `make build`) and a
// fresh-process-per-request baseline in the same run, drives both over
// HTTP on loopback, and writes serve.md and serve.json. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/retool-rl/retool/core/sysmon"
)

// config is every knob of the harness; it is filled from the flags.
type config struct {
	Out          string        `json:"out"`
	Bin          string        `json:"bin"`
	Python       string        `json:"python"`
	Quick        bool          `json:"quick"`
	Phases       string        `json:"phases"`
	Snippets     string        `json:"snippets"`
	Concurrency  []int         `json:"concurrency"`
	CellDuration time.Duration `json:"cell_duration_ns"`
	CellRequests int           `json:"cell_max_requests"`
	Repeat       int           `json:"repeat"`
	Settle       time.Duration `json:"settle_ns"`
	Drain        time.Duration `json:"drain_ns"`
	Timeout      time.Duration `json:"request_timeout_ns"`
	RunTimeout   float64       `json:"run_timeout_s"`
	MemoryMB     int           `json:"memory_limit_mb"`
	MaxRetries   int           `json:"max_retries"`
	CPUIters     int           `json:"cpu_iters"`

	ExecCount       int           `json:"exec_count"`
	ExecConcurrency int           `json:"exec_concurrency"`
	ExecDeadline    time.Duration `json:"exec_deadline_ns"`

	FaultDuration    time.Duration `json:"fault_duration_ns"`
	FaultInterval    time.Duration `json:"fault_interval_ns"`
	FaultConcurrency int           `json:"fault_concurrency"`

	HostileDuration    time.Duration `json:"hostile_duration_ns"`
	HostileConcurrency int           `json:"hostile_normal_concurrency"`
	AbuseConcurrency   int           `json:"hostile_abuse_concurrency"`
	AbuseRunTimeout    float64       `json:"hostile_abuse_run_timeout_s"`

	PoolSize      int    `json:"pool_size"`
	ServerConfig  string `json:"server_config"`
	ServerLog     string `json:"server_log_level"`
	ServerLogPath string `json:"server_log_path"`
	BaselineProcs int    `json:"baseline_procs"`
}

func main() {
	// The same scheduler setting as retool serve (see package sysmon), so
	// that the baseline's server and the client are not the slower for it.
	if err := sysmon.Reexec(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve: warning:", err)
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

// quickDefaults are the flag values -quick uses for flags not given.
func quickDefaults() map[string]string {
	return map[string]string{
		"cell-duration": "1.5s", "drain": "1s", "exec-count": "2000",
		"fault-duration": "8s", "fault-interval": "2s", "hostile-duration": "4s",
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	var conc string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Out, "out", "bench/results", "directory for serve.md and serve.json")
	fs.StringVar(&c.Bin, "bin", "bin", "directory with retool and retool-runtime-* (from `make build`)")
	fs.StringVar(&c.Python, "python", "/usr/bin/python3", "interpreter of the baseline and of the CPU calibration")
	fs.BoolVar(&c.Quick, "quick", false, "a run of about a minute (shorter cells, 2,000-execution run)")
	fs.StringVar(&c.Phases, "phases", "load,exec,hostile,fault", "phases to run, in this order")
	fs.StringVar(&c.Snippets, "snippets", "print,sympy,cpu50ms", "snippets of the load phase")
	fs.StringVar(&conc, "concurrency", "1,8,64,256", "concurrency levels of the load runs")
	fs.DurationVar(&c.CellDuration, "cell-duration", 8*time.Second, "sending time of one load cell (one snippet, concurrency and server)")
	fs.IntVar(&c.CellRequests, "cell-requests", 0, "stop a load cell after this many requests (0: no limit)")
	fs.IntVar(&c.Repeat, "repeat", 1, "runs of each load cell; the tables show their medians")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "before each measurement, wait up to this long for the CPUs to go idle (0: don't)")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "time requests in flight get to finish after a cell before they are cut")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "per-request HTTP timeout (verl: compile+run+10s); past it a request counts as hung")
	fs.Float64Var(&c.RunTimeout, "run-timeout", 10, "run_timeout sent with normal requests (seconds)")
	fs.IntVar(&c.MemoryMB, "memory-mb", 1024, "memory_limit_MB sent with normal requests (verl sends 1024)")
	fs.IntVar(&c.MaxRetries, "max-retries", 30, "retries of one request answered 429/503")
	fs.IntVar(&c.CPUIters, "cpu-iters", 0, "loop iterations of the CPU snippet (0: calibrate to 50 ms on this machine)")
	fs.IntVar(&c.ExecCount, "exec-count", 10000, "executions in the long run")
	fs.IntVar(&c.ExecConcurrency, "exec-concurrency", 256, "concurrency of the long run")
	fs.DurationVar(&c.ExecDeadline, "exec-deadline", 5*time.Minute, "upper bound on the long run's sending time")
	fs.DurationVar(&c.FaultDuration, "fault-duration", 20*time.Second, "length of the fault run")
	fs.DurationVar(&c.FaultInterval, "fault-interval", 3*time.Second, "time between two SIGKILLs of the python plugin")
	fs.IntVar(&c.FaultConcurrency, "fault-concurrency", 64, "concurrency of the fault run")
	fs.DurationVar(&c.HostileDuration, "hostile-duration", 15*time.Second, "length of the quiet and of the attacked half of the hostile run")
	fs.IntVar(&c.HostileConcurrency, "hostile-concurrency", 8, "concurrency of the normal traffic in the hostile run")
	fs.IntVar(&c.AbuseConcurrency, "abuse-concurrency", 3, "hostile requests in flight at once during the attack")
	fs.Float64Var(&c.AbuseRunTimeout, "abuse-run-timeout", 2, "run_timeout of the hostile requests (seconds)")
	fs.IntVar(&c.PoolSize, "pool-size", 0, "--pool-size for retool serve (0: the server's default)")
	fs.StringVar(&c.ServerConfig, "config", "", "--config file for retool serve")
	fs.StringVar(&c.ServerLog, "server-log-level", "", "--log-level for retool serve (empty: its default)")
	fs.StringVar(&c.ServerLogPath, "server-log", "", "keep retool serve's stderr in this file (default: a temp file, removed)")
	fs.IntVar(&c.BaselineProcs, "baseline-procs", 2*runtime.NumCPU(), "interpreters the baseline runs at once (0: no bound, as SandboxFusion)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.Quick {
		if err := applyQuick(fs); err != nil {
			return c, err
		}
	}
	levels, err := parseLevels(conc)
	if err != nil {
		return c, err
	}
	c.Concurrency = levels
	return c, validate(c)
}

// applyQuick sets the quick values of the flags the user did not give.
func applyQuick(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, value := range quickDefaults() {
		if given[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("-quick: set -%s: %w", name, err)
		}
	}
	return nil
}

func parseLevels(s string) ([]int, error) {
	var levels []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("-concurrency: %q is not a number in 1..4096", f)
		}
		levels = append(levels, n)
	}
	return levels, nil
}

func validate(c config) error {
	var errs []error
	for _, p := range strings.Split(c.Phases, ",") {
		switch p {
		case "load", "exec", "hostile", "fault":
		default:
			errs = append(errs, fmt.Errorf("-phases: unknown phase %q (load, exec, hostile, fault)", p))
		}
	}
	for _, n := range strings.Split(c.Snippets, ",") {
		switch n {
		case "print", "sympy", "cpu50ms":
		default:
			errs = append(errs, fmt.Errorf("-snippets: unknown snippet %q (print, sympy, cpu50ms)", n))
		}
	}
	positive := map[string]time.Duration{"cell-duration": c.CellDuration, "timeout": c.Timeout,
		"exec-deadline": c.ExecDeadline, "fault-duration": c.FaultDuration,
		"fault-interval": c.FaultInterval, "hostile-duration": c.HostileDuration}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("-%s must be positive", name))
		}
	}
	if c.ExecCount < 1 || c.Repeat < 1 || c.ExecConcurrency < 1 || c.FaultConcurrency < 1 || c.HostileConcurrency < 1 || c.AbuseConcurrency < 1 {
		errs = append(errs, errors.New("counts and concurrencies must be at least 1"))
	}
	return errors.Join(errs...)
}

func (c config) phase(name string) bool { return slices.Contains(strings.Split(c.Phases, ","), name) }

func (c config) snippet(name string) bool {
	return slices.Contains(strings.Split(c.Snippets, ","), name)
}
