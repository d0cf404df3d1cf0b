// Command containerd measures warm executions on the containerd sandbox
// backend against the native one, in the same run: the same Python
// fork-server pool on each, executions alternating between them in
// rounds so that machine noise falls on both. It starts a private
// containerd (binaries from RETOOL_CONTAINERD_BIN or PATH, as the tests
// do) and writes containerd.md and containerd.json.
//
//	go run ./bench/containerd -out bench/results
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/pool"
	"github.com/retool-rl/retool/core/sandbox"
	"github.com/retool-rl/retool/core/sandbox/containerd"
	"github.com/retool-rl/retool/core/sandbox/containerd/ctrdtest"
	"github.com/retool-rl/retool/runtimes/python/driver"
)

type config struct {
	Out         string        `json:"-"`
	Rounds      int           `json:"rounds"`
	PerRound    int           `json:"sequential_per_round"`
	Concurrency int           `json:"concurrency"`
	PoolSize    int           `json:"pool_size"`
	Window      time.Duration `json:"throughput_window_ns"`
	Starts      int           `json:"worker_starts"`
}

// snippet is one program measured on both backends.
type snippet struct {
	Name, Code, Want string
}

var snippets = []snippet{
	{"print", "print(1+1)", "2\n"},
	{"numpy", "import numpy as np; print(int(np.arange(1000).sum()))", "499500\n"},
	{"cpu-50ms", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass\nprint('ok')", "ok\n"},
}

// cell is one snippet on one backend: per-round figures and their medians.
type cell struct {
	Backend   string    `json:"backend"`
	Snippet   string    `json:"snippet"`
	P50ms     []float64 `json:"p50_ms_per_round"`
	P99ms     []float64 `json:"p99_ms_per_round"`
	ExecPerS  []float64 `json:"exec_per_s_per_round"`
	MedP50    float64   `json:"median_p50_ms"`
	MedP99    float64   `json:"median_p99_ms"`
	MedExecPS float64   `json:"median_exec_per_s"`
}

type report struct {
	Date     string               `json:"date"`
	Machine  string               `json:"machine"`
	Config   config               `json:"config"`
	Daemon   string               `json:"containerd"`
	Cells    []*cell              `json:"cells"`
	StartsMs map[string][]float64 `json:"worker_start_ms"`
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Out, "out", "bench/results", "directory for containerd.md and containerd.json")
	flag.IntVar(&cfg.Rounds, "rounds", 5, "rounds; each runs every cell on both backends")
	flag.IntVar(&cfg.PerRound, "n", 200, "sequential executions per cell and round (latency)")
	flag.IntVar(&cfg.Concurrency, "c", 8, "concurrent clients in the throughput cells")
	flag.IntVar(&cfg.PoolSize, "pool", 4, "warm workers per pool")
	flag.DurationVar(&cfg.Window, "window", 2*time.Second, "length of each throughput cell")
	flag.IntVar(&cfg.Starts, "starts", 10, "worker starts timed per backend")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench containerd:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	d, skip, err := ctrdtest.Start()
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	if d == nil {
		return fmt.Errorf("cannot run containerd here: %s", skip)
	}
	defer d.Stop()
	ctx := context.Background()
	ctr, err := containerd.NewSandbox(ctx, containerd.SandboxConfig{
		Config: containerd.Config{Socket: d.Socket, Namespace: d.Namespace, StateDir: d.StateDir}})
	if err != nil {
		return err
	}
	defer ctr.Close()
	version, _ := ctr.Client().Version(ctx)
	backends := []struct {
		name string
		sb   sandbox.Sandbox
	}{{"native", sandbox.NewNative(true)}, {"containerd", ctr}}

	drv, err := driver.Runtime(driver.Python).Driver(map[string]string{})
	if err != nil {
		return err
	}
	drv.StartTimeout = 30 * time.Second
	rep := report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Config: cfg,
		Daemon: version, StartsMs: map[string][]float64{}}

	pools := map[string]*pool.Pool{}
	for _, b := range backends {
		p, err := pool.New(ctx, pool.Config{Name: "bench-" + b.name, Size: cfg.PoolSize, Sandbox: b.sb, Driver: drv})
		if err != nil {
			return fmt.Errorf("%s pool: %w", b.name, err)
		}
		defer p.Close()
		pools[b.name] = p
	}
	cells := map[string]*cell{}
	for _, s := range snippets {
		for _, b := range backends {
			c := &cell{Backend: b.name, Snippet: s.Name}
			cells[b.name+"/"+s.Name] = c
			rep.Cells = append(rep.Cells, c)
		}
	}
	for r := 0; r < cfg.Rounds; r++ {
		for _, s := range snippets {
			order := backends
			if r%2 == 1 { // who goes first alternates
				order = []struct {
					name string
					sb   sandbox.Sandbox
				}{backends[1], backends[0]}
			}
			for _, b := range order {
				c := cells[b.name+"/"+s.Name]
				lat, err := sequential(ctx, pools[b.name], s, cfg.PerRound)
				if err != nil {
					return fmt.Errorf("%s %s: %w", b.name, s.Name, err)
				}
				c.P50ms = append(c.P50ms, pct(lat, 50))
				c.P99ms = append(c.P99ms, pct(lat, 99))
				n, err := throughput(ctx, pools[b.name], s, cfg.Concurrency, cfg.Window)
				if err != nil {
					return fmt.Errorf("%s %s throughput: %w", b.name, s.Name, err)
				}
				c.ExecPerS = append(c.ExecPerS, n)
				fmt.Fprintf(os.Stderr, "round %d %-10s %-8s p50 %.2f ms p99 %.2f ms, %.0f exec/s at c=%d\n",
					r+1, b.name, s.Name, c.P50ms[r], c.P99ms[r], n, cfg.Concurrency)
			}
		}
	}
	for _, c := range rep.Cells {
		c.MedP50, c.MedP99, c.MedExecPS = median(c.P50ms), median(c.P99ms), median(c.ExecPerS)
	}
	for _, b := range backends {
		for i := 0; i < cfg.Starts; i++ {
			t0 := time.Now()
			p, err := pool.New(ctx, pool.Config{Name: "start-" + b.name, Size: 1, Sandbox: b.sb, Driver: drv})
			if err != nil {
				return fmt.Errorf("%s start: %w", b.name, err)
			}
			rep.StartsMs[b.name] = append(rep.StartsMs[b.name], ms(time.Since(t0)))
			p.Close()
		}
	}
	for _, p := range pools {
		p.Close()
	}
	leaks, err := ctr.Client().Leaks(ctx)
	if err != nil || !leaks.Zero() {
		return fmt.Errorf("containerd left %+v behind (%v)", leaks, err)
	}
	return write(cfg.Out, rep, cells)
}

func sequential(ctx context.Context, p *pool.Pool, s snippet, n int) ([]float64, error) {
	lat := make([]float64, 0, n)
	req := &execution.Request{Code: s.Code}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		res, err := p.Execute(ctx, req)
		lat = append(lat, ms(time.Since(t0)))
		if err := check(res, err, s); err != nil {
			return nil, err
		}
	}
	return lat, nil
}

// throughput runs c clients for window and returns correct executions/s.
func throughput(ctx context.Context, p *pool.Pool, s snippet, c int, window time.Duration) (float64, error) {
	var done atomic.Int64
	var first atomic.Value
	end := time.Now().Add(window)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &execution.Request{Code: s.Code}
			for time.Now().Before(end) {
				res, err := p.Execute(ctx, req)
				if err := check(res, err, s); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

func check(res execution.Result, err error, s snippet) error {
	if err != nil {
		return err
	}
	if res.Status != execution.Finished || string(res.Stdout) != s.Want {
		return fmt.Errorf("wrong result: %v %q %q %s", res.Status, res.Stdout, res.Stderr, res.Message)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(v []float64, p int) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func median(v []float64) float64 { return pct(v, 50) }

func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s", runtime.NumCPU(), cpu, runtime.Version())
}

func write(dir string, rep report, cells map[string]*cell) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "containerd.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	c := rep.Config
	fmt.Fprintf(&b, "# Warm executions: containerd backend vs native\n\n")
	fmt.Fprintf(&b, "- Date: %s; machine: %s; containerd %s (runc shim, private daemon).\n", rep.Date, rep.Machine, rep.Daemon)
	fmt.Fprintf(&b, "- The same Python fork-server pool (%d workers) on each backend; %d rounds, each running every cell on both backends (who goes first alternates). Per round: %d sequential executions (latency, ms), then %s of %d concurrent clients (throughput). Figures are medians over the rounds.\n",
		c.PoolSize, c.Rounds, c.PerRound, c.Window, c.Concurrency)
	fmt.Fprintf(&b, "- Target (issue 6): warm containerd executions within 1.5× of native.\n\n")
	fmt.Fprintf(&b, "| snippet | native p50 | containerd p50 | ratio | native p99 | containerd p99 | ratio | native exec/s (c=%d) | containerd exec/s | ratio |\n", c.Concurrency)
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range snippets {
		n, k := cells["native/"+s.Name], cells["containerd/"+s.Name]
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f× | %.2f | %.2f | %.2f× | %.0f | %.0f | %.2f× |\n", s.Name,
			n.MedP50, k.MedP50, k.MedP50/n.MedP50, n.MedP99, k.MedP99, k.MedP99/n.MedP99,
			n.MedExecPS, k.MedExecPS, n.MedExecPS/k.MedExecPS)
	}
	fmt.Fprintf(&b, "\nRatios are containerd over native for latency and native over containerd for throughput: above 1 means containerd is slower.\n\n")
	fmt.Fprintf(&b, "## Worker start (sandbox + interpreter until the driver is ready, ms; median of %d)\n\n", c.Starts)
	fmt.Fprintf(&b, "| backend | median | min | max |\n|---|---:|---:|---:|\n")
	for _, name := range []string{"native", "containerd"} {
		v := rep.StartsMs[name]
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f |\n", name, median(v), slices.Min(v), slices.Max(v))
	}
	return os.WriteFile(filepath.Join(dir, "containerd.md"), []byte(b.String()), 0o644)
}
