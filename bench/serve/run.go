package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// harness is one run: the servers it started and the clients to them.
type harness struct {
	cfg      config
	server   *retoolServer
	retool   *client
	baseline *client
	snippets []snippet
	rep      *report
}

// cpuTarget is what the CPU snippet is calibrated to.
const cpuTarget = 50 * time.Millisecond

func run(ctx context.Context, cfg config) error {
	if err := checkBinaries(cfg.Bin); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	h, err := newHarness(ctx, cfg)
	if err != nil {
		return err
	}
	stop, err := h.startServers(ctx)
	if err != nil {
		return err
	}
	defer stop() // on a panic or an early return; a no-op after the first call

	phaseErr := h.runPhases(ctx)
	h.recordServer(ctx)
	h.rep.Server.Shutdown = stop()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; no results written: %w", ctx.Err())
	}
	return errors.Join(phaseErr, h.publish())
}

// newHarness calibrates the CPU snippet and prepares the report.
func newHarness(ctx context.Context, cfg config) (*harness, error) {
	iters, err := cpuIters(ctx, cfg)
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, rep: newReport(cfg),
		snippets: []snippet{printSnippet(), sympySnippet(), cpuSnippet(iters)}}
	h.rep.CPUIters = iters
	h.rep.Snippets = h.snippets
	return h, nil
}

// startServers starts the baseline and retool serve. stop shuts both
// down and reports how retool went; calls after the first do nothing.
func (h *harness) startServers(ctx context.Context) (stop func() shutdown, err error) {
	baseURL, stopBaseline, err := startBaseline(h.cfg.Python, h.cfg.BaselineProcs)
	if err != nil {
		return nil, err
	}
	h.baseline = newClient(baseURL, h.cfg.Timeout, h.cfg.MaxRetries)
	progress("starting retool serve from %s", h.cfg.Bin)
	srv, err := startRetool(ctx, serverOptions{BinDir: h.cfg.Bin, PoolSize: h.cfg.PoolSize,
		Config: h.cfg.ServerConfig, LogLevel: h.cfg.ServerLog, LogPath: h.cfg.ServerLogPath, Ready: time.Minute})
	if err != nil {
		stopBaseline()
		return nil, err
	}
	h.server = srv
	h.retool = newClient(srv.url, h.cfg.Timeout, h.cfg.MaxRetries)
	var once sync.Once
	var sd shutdown
	return func() shutdown {
		once.Do(func() {
			sd = srv.stop(15 * time.Second)
			stopBaseline()
		})
		return sd
	}, nil
}

// publish prints the markdown and writes serve.md and serve.json.
func (h *harness) publish() error {
	md := h.rep.markdown()
	fmt.Print(md)
	if err := h.rep.write(h.cfg.Out, md); err != nil {
		return err
	}
	progress("wrote %s and %s", filepath.Join(h.cfg.Out, "serve.md"), filepath.Join(h.cfg.Out, "serve.json"))
	return nil
}

func cpuIters(ctx context.Context, cfg config) (int, error) {
	if cfg.CPUIters > 0 {
		return cfg.CPUIters, nil
	}
	progress("calibrating the CPU snippet to %s with %s", cpuTarget, cfg.Python)
	return calibrateCPU(ctx, cfg.Python, cpuTarget)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// runPhases runs the selected phases in order and stops at the first
// that finds the server dead.
func (h *harness) runPhases(ctx context.Context) error {
	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"load", h.loadPhase}, {"exec", h.execPhase}, {"hostile", h.hostilePhase}, {"fault", h.faultPhase},
	}
	for _, p := range phases {
		if !h.cfg.phase(p.name) {
			continue
		}
		if err := p.run(ctx); err != nil {
			return fmt.Errorf("%s phase: %w", p.name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// serverGone fails when retool serve has exited.
func (h *harness) serverGone() error {
	if h.server.alive() {
		return nil
	}
	return fmt.Errorf("retool serve exited (%v); its log ends:\n%s", h.server.waitErr, h.server.logTail(30))
}

// loadPhase measures every snippet at every concurrency on retool and on
// the baseline, one cell after the other, -repeat times each.
func (h *harness) loadPhase(ctx context.Context) error {
	for _, s := range h.snippets {
		if !h.cfg.snippet(s.Name) {
			continue
		}
		work, err := fixedWork(s, h.cfg.RunTimeout, h.cfg.MemoryMB)
		if err != nil {
			return err
		}
		h.warm(ctx, "retool", h.retool, work)
		h.warm(ctx, "baseline", h.baseline, work)
		for _, conc := range h.cfg.Concurrency {
			r, err := h.loadRow(ctx, s.Name, conc, work)
			h.rep.Load = append(h.rep.Load, r)
			if err != nil || ctx.Err() != nil {
				return err
			}
		}
	}
	return nil
}

// loadRow runs one snippet at one concurrency on both servers; with
// -repeat > 1 the row holds the medians of the runs.
func (h *harness) loadRow(ctx context.Context, name string, conc int, work workSource) (loadResult, error) {
	spec := loadSpec{Concurrency: conc, Duration: h.cfg.CellDuration, MaxRequests: h.cfg.CellRequests, Drain: h.cfg.Drain}
	r := loadResult{Snippet: name, Concurrency: conc}
	for range h.cfg.Repeat {
		r.RetoolRuns = append(r.RetoolRuns, h.cell(ctx, "retool", h.retool, spec, work))
		if err := h.serverGone(); err != nil {
			r.Retool = medianSummary(r.RetoolRuns)
			return r, err
		}
		r.BaselineRuns = append(r.BaselineRuns, h.cell(ctx, "baseline", h.baseline, spec, work))
		if ctx.Err() != nil {
			break
		}
	}
	r.Retool = medianSummary(r.RetoolRuns)
	b := medianSummary(r.BaselineRuns)
	r.Baseline = &b
	r.ThroughputRatio = ratio(r.Retool.Throughput, b.Throughput)
	r.P50Speedup = ratio(b.P50Ms, r.Retool.P50Ms)
	return r, nil
}

// warm sends a few requests that are not measured.
func (h *harness) warm(ctx context.Context, name string, c *client, work workSource) {
	spec := loadSpec{Concurrency: 2, Duration: 30 * time.Second, MaxRequests: 6, Drain: h.cfg.Timeout}
	outs := (&loadRun{}).runLoad(ctx, c, spec, time.Now(), work)
	if s := summarize(outs, span(outs)); s.OK != s.Requests {
		progress("warm-up of %s on %s: %d of %d correct: %v", work(0).tag, name, s.OK, s.Requests, s.Examples)
	}
}

func (h *harness) cell(ctx context.Context, name string, c *client, spec loadSpec, work workSource) summary {
	quiet := h.settle(ctx)
	outs := (&loadRun{}).runLoad(ctx, c, spec, time.Now(), work)
	s := summarize(outs, span(outs))
	s.BusyBefore = !quiet
	progress("%-7s c=%-3d %-8s %8.1f exec/s  p50 %7.1f ms  p99 %8.1f ms  errors %d  cut %d  429s %d",
		work(0).tag, spec.Concurrency, name, s.Throughput, s.P50Ms, s.P99Ms, s.errors(), s.Cut, s.Retries429)
	return s
}

// settle lets the machine go quiet before a measurement; it reports
// whether it did.
func (h *harness) settle(ctx context.Context) bool {
	if h.cfg.Settle <= 0 {
		return true
	}
	waited, ok := settle(ctx, 0.15, h.cfg.Settle)
	if !ok && ctx.Err() == nil {
		progress("the CPUs were still busy after %s; measuring anyway", waited.Round(time.Millisecond))
	}
	return ok
}

// execPhase sends ExecCount print(1+1) at ExecConcurrency and checks
// every answer.
func (h *harness) execPhase(ctx context.Context) error {
	work, err := fixedWork(printSnippet(), h.cfg.RunTimeout, h.cfg.MemoryMB)
	if err != nil {
		return err
	}
	spec := loadSpec{Concurrency: h.cfg.ExecConcurrency, Duration: h.cfg.ExecDeadline,
		MaxRequests: h.cfg.ExecCount, Drain: h.cfg.Timeout + time.Second}
	progress("exec run: %d × print(1+1) at concurrency %d", spec.MaxRequests, spec.Concurrency)
	outs := (&loadRun{}).runLoad(ctx, h.retool, spec, time.Now(), work)
	s := summarize(outs, span(outs))
	h.rep.Exec = &execResult{Spec: spec, Summary: s, Unsent: spec.MaxRequests - s.Requests}
	progress("exec run: %d ok, %d wrong, %d lost, %d other errors, %d cut, %d unsent, %.0f exec/s",
		s.OK, s.Wrong, s.lost(), s.errors()-s.Wrong-s.lost(), s.Cut, h.rep.Exec.Unsent, s.Throughput)
	return h.serverGone()
}

func (h *harness) hostilePhase(ctx context.Context) error {
	work, err := fixedWork(printSnippet(), h.cfg.RunTimeout, h.cfg.MemoryMB)
	if err != nil {
		return err
	}
	abuse := hostileSnippets()
	spec := hostileSpec{
		Normal: loadSpec{Concurrency: h.cfg.HostileConcurrency, Duration: h.cfg.HostileDuration,
			Drain: h.cfg.Timeout + time.Second},
		AbuseConcurrency: h.cfg.AbuseConcurrency, AbuseRunTimeout: h.cfg.AbuseRunTimeout, AbuseMemoryMB: 256,
	}
	for _, s := range abuse {
		spec.AbuseSnippetNames = append(spec.AbuseSnippetNames, s.Name)
	}
	progress("hostile run: %s quiet, then %s with %d hostile requests in flight", spec.Normal.Duration,
		spec.Normal.Duration, spec.AbuseConcurrency)
	r, err := runHostile(ctx, h.retool, work, spec, abuse)
	if err != nil {
		return err
	}
	r.AliveAfter, r.AfterError = h.aliveAfter(ctx)
	h.rep.Hostile = &r
	progress("hostile run: normal p99 %.1f ms quiet, %.1f ms attacked (×%.2f)", r.Quiet.P99Ms, r.Attacked.P99Ms, r.P99Ratio)
	return h.serverGone()
}

func (h *harness) faultPhase(ctx context.Context) error {
	work, err := fixedWork(printSnippet(), h.cfg.RunTimeout, h.cfg.MemoryMB)
	if err != nil {
		return err
	}
	spec := faultSpec{
		Load: loadSpec{Concurrency: h.cfg.FaultConcurrency, Duration: h.cfg.FaultDuration,
			Drain: h.cfg.Timeout + time.Second},
		Interval: h.cfg.FaultInterval, Plugin: "retool-runtime-python",
	}
	progress("fault run: SIGKILL %s every %s for %s at concurrency %d", spec.Plugin, spec.Interval,
		spec.Load.Duration, spec.Load.Concurrency)
	pool, _ := metricValue(scrapeMetrics(ctx, h.server.url), `retool_pool_workers{runtime="python",state="total"}`)
	r := runFault(ctx, h.retool, work, spec, h.server.pluginDir, int(pool))
	h.rep.Fault = &r
	progress("fault run: %d kills, %d hung, %d failed (%d not SandboxError, at most %d per kill with %d workers), serving back within %.0f ms (max)",
		len(r.Kills), r.Hung, r.Total.errors(), r.NonSandboxError, r.MaxFailedKill, r.PoolWorkers, r.MaxServingMs)
	return h.serverGone()
}

// aliveAfter checks /v1/ping and one correct print(1+1).
func (h *harness) aliveAfter(ctx context.Context) (bool, string) {
	if err := ping(ctx, h.server.url); err != nil {
		return false, err.Error()
	}
	body, err := json.Marshal(printSnippet().request(h.cfg.RunTimeout, h.cfg.MemoryMB))
	if err != nil {
		return false, err.Error()
	}
	if o := h.retool.run(ctx, time.Now(), body, printSnippet().Want); o.Kind != kindOK {
		return false, string(o.Kind) + ": " + o.Detail
	}
	return true, ""
}

// recordServer keeps what the server said about itself: its version, the
// counters of /metrics and the errors in its log.
func (h *harness) recordServer(ctx context.Context) {
	sr := &h.rep.Server
	sr.Version = retoolVersion(h.cfg.Bin)
	sr.Metrics = scrapeMetrics(ctx, h.server.url)
	sr.LogErrors, sr.LogErrorCount = h.server.logLines(20, "[ERROR]", "panic", "fatal", "DATA RACE")
}

// metricValue is the value of the sample series (name and labels, as
// /metrics writes them) among lines.
func metricValue(lines []string, series string) (float64, bool) {
	for _, l := range lines {
		name, rest, ok := strings.Cut(l, " ")
		if !ok || name != series {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}

// scrapeMetrics returns the sample lines of /metrics, histogram buckets
// left out.
func scrapeMetrics(ctx context.Context, baseURL string) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") || strings.Contains(l, "_bucket{") || strings.HasPrefix(l, "go_") || strings.HasPrefix(l, "process_") || strings.HasPrefix(l, "promhttp_") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}
