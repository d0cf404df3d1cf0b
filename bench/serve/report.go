package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// report is everything a run measured; serve.json is this, serve.md its
// tables.
type report struct {
	Date     string         `json:"date"`
	Machine  machine        `json:"machine"`
	Config   config         `json:"config"`
	CPUIters int            `json:"cpu_iters"`
	Snippets []snippet      `json:"snippets"`
	Load     []loadResult   `json:"load"`
	Exec     *execResult    `json:"exec,omitempty"`
	Hostile  *hostileResult `json:"hostile,omitempty"`
	Fault    *faultResult   `json:"fault,omitempty"`
	Server   serverReport   `json:"server"`
}

// loadResult is one row of a load table.
type loadResult struct {
	Snippet         string    `json:"snippet"`
	Concurrency     int       `json:"concurrency"`
	Retool          summary   `json:"retool"`
	Baseline        *summary  `json:"baseline,omitempty"`
	RetoolRuns      []summary `json:"retool_runs,omitempty"` // with -repeat > 1; Retool holds their medians
	BaselineRuns    []summary `json:"baseline_runs,omitempty"`
	ThroughputRatio float64   `json:"throughput_ratio"` // retool / baseline
	P50Speedup      float64   `json:"p50_speedup"`      // baseline p50 / retool p50
}

// execResult is the long run at high concurrency.
type execResult struct {
	Spec    loadSpec `json:"spec"`
	Summary summary  `json:"summary"`
	Unsent  int      `json:"unsent"` // not sent before the deadline
}

// serverReport is what the server said about itself.
type serverReport struct {
	Version       string   `json:"version"`
	Metrics       []string `json:"metrics"`
	LogErrors     []string `json:"log_errors,omitempty"`
	LogErrorCount int      `json:"log_error_count"`
	Shutdown      shutdown `json:"shutdown"`
}

// machine is where the numbers come from.
type machine struct {
	NumCPU    int    `json:"nproc"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	MemoryGiB string `json:"memory_gib"`
	Go        string `json:"go"`
	// LoadAvg is /proc/loadavg when the run started: anything else busy
	// on the machine skews the numbers.
	LoadAvg string `json:"loadavg_at_start"`
	// GODEBUG is the harness's (so the baseline's and the client's) and,
	// inherited, the server's and its plugins'.
	GODEBUG string `json:"godebug"`
}

func newReport(cfg config) *report {
	return &report{Date: time.Now().UTC().Format(time.RFC3339), Config: cfg, Machine: describeMachine()}
}

func describeMachine() machine {
	m := machine{NumCPU: runtime.NumCPU(), Go: runtime.Version(), GODEBUG: os.Getenv("GODEBUG")}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.TrimSpace(string(b))
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n float64
		if _, err := fmt.Sscanf(kb, "%f kB", &n); err == nil {
			m.MemoryGiB = fmt.Sprintf("%.1f", n/(1<<20))
		}
	}
	return m
}

// procField is the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// write stores serve.md and serve.json in dir.
func (r *report) write(dir, md string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode serve.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serve.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write serve.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serve.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("write serve.md: %w", err)
	}
	return nil
}

// markdown renders the report as tables.
func (r *report) markdown() string {
	var b strings.Builder
	r.header(&b)
	r.targetsTable(&b)
	r.loadTables(&b)
	r.execTable(&b)
	r.hostileTable(&b)
	r.faultTable(&b)
	r.serverSection(&b)
	return b.String()
}

func (r *report) header(b *strings.Builder) {
	c, m := r.Config, r.Machine
	fmt.Fprintf(b, "# retool serve: load and fault results\n\n")
	fmt.Fprintf(b, "- Date: %s; machine: %d CPUs (%s), %s, %s GiB RAM, load average at start %s; %s; %s.\n",
		r.Date, m.NumCPU, m.CPU, m.Kernel, m.MemoryGiB, loadAvg1(m.LoadAvg), m.Go, r.Server.Version)
	pool := "the server's default"
	if c.PoolSize > 0 {
		pool = fmt.Sprint(c.PoolSize)
	}
	mode := "full"
	if c.Quick {
		mode = "quick"
	}
	fmt.Fprintf(b, "- Run: %s; load cells of %s each, %s (+ up to %s drain, then cut); request timeout %s; 429/503 retried after Retry-After (≤ %d times); retool pool size: %s.\n",
		mode, c.CellDuration, repeats(c.Repeat), c.Drain, c.Timeout, c.MaxRetries, pool)
	fmt.Fprintf(b, "- Baseline: a fresh `%s` per request behind the same HTTP API (what SandboxFusion does), at most %d at once, **with no isolation at all** — which flatters it.\n",
		c.Python, c.BaselineProcs)
	fmt.Fprintf(b, "- GODEBUG of the harness (its client and the baseline) and of retool serve: `%s`.\n", m.GODEBUG)
	fmt.Fprintf(b, "- Before each load cell the harness waits (up to %s) for the CPUs to be idle; cells where they were not are flagged under their table.\n", c.Settle)
	fmt.Fprintf(b, "- exec/s counts correct answers only; latencies (ms) are client-side, 429 waits included; requests cut at the end of a cell count at the time they were cut, which makes the percentiles they reach lower bounds (marked ≥); errors = answered wrongly or not at all (cut ones not included).\n\n")
}

// target is one line of the targets with what was measured.
type target struct {
	name, want, got string
	ok              bool
}

// targetsTable checks the targets (the load ones at concurrency
// 64) against this run.
func (r *report) targetsTable(b *strings.Builder) {
	ts := r.loadTargets()
	if e := r.Exec; e != nil {
		s := e.Summary
		ts = append(ts, target{fmt.Sprintf("%d × print(1+1) at concurrency %d", e.Spec.MaxRequests, e.Spec.Concurrency),
			"all correct, none lost", fmt.Sprintf("%d correct, %d wrong, %d lost, %d other", s.OK, s.Wrong, s.lost(),
				s.errors()-s.Wrong-s.lost()), s.OK == e.Spec.MaxRequests})
	}
	if f := r.Fault; f != nil {
		ts = append(ts, target{"fault run", "no hang, SandboxError only, only in-flight fail, back ≤ 1 s",
			fmt.Sprintf("%d hung, %d not SandboxError, ≤ %d failed per kill (%d workers), back ≤ %.0f ms",
				f.Hung, f.NonSandboxError, f.MaxFailedKill, f.PoolWorkers, f.MaxServingMs), f.passed()})
	}
	if h := r.Hostile; h != nil {
		ts = append(ts, target{"hostile run: normal p99 attacked / quiet", "≤ 2×",
			fmt.Sprintf("%.2f× (%.1f / %.1f ms)", h.P99Ratio, h.Attacked.P99Ms, h.Quiet.P99Ms),
			h.P99Ratio > 0 && h.P99Ratio <= 2 && h.AliveAfter})
	}
	if len(ts) == 0 {
		return
	}
	b.WriteString("## Targets (issue 3)\n\n| target | wanted | measured | |\n|---|---|---|---|\n")
	for _, t := range ts {
		verdict := "FAIL"
		if t.ok {
			verdict = "PASS"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.name, t.want, t.got, verdict)
	}
	b.WriteString("\n")
}

// loadTargets are the targets on the load tables, at concurrency 64.
func (r *report) loadTargets() []target {
	var ts []target
	for _, l := range r.Load {
		if l.Concurrency != 64 || l.Baseline == nil {
			continue
		}
		switch l.Snippet {
		case "print":
			ts = append(ts,
				target{"print(1+1) at c=64: throughput", "≥ 400 exec/s", fmt.Sprintf("%.1f exec/s", l.Retool.Throughput), l.Retool.Throughput >= 400},
				target{"print(1+1) at c=64: p99", "≤ 100 ms", fmt.Sprintf("%s%.1f ms", l.Retool.bound("p99"), l.Retool.P99Ms), l.Retool.P99Ms <= 100},
				target{"print(1+1) at c=64: vs baseline", "≥ 5×", fmt.Sprintf("%.1f×", l.ThroughputRatio), l.ThroughputRatio >= 5})
		case "sympy":
			ts = append(ts, target{"sympy at c=64: vs baseline", "≥ 20×", fmt.Sprintf("%.1f×", l.ThroughputRatio), l.ThroughputRatio >= 20})
		}
	}
	return ts
}

func (r *report) loadTables(b *strings.Builder) {
	if len(r.Load) == 0 {
		return
	}
	for _, s := range r.Snippets {
		rows := r.loadRows(s.Name)
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(b, "## Load: %s (`%s`, language %s)\n\n", s.Name, firstLine(s.Code), s.Language)
		b.WriteString("| conc | retool exec/s | p50 | p90 | p99 | errors | 429s | baseline exec/s | p50 | p90 | p99 | errors | throughput × |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, row := range rows {
			rt := row.Retool
			fmt.Fprintf(b, "| %d | %.1f | %s | %s | %d |", row.Concurrency, rt.Throughput,
				percentiles(rt), errorCell(rt), rt.Retries429)
			if bl := row.Baseline; bl != nil {
				fmt.Fprintf(b, " %.1f | %s | %s | %.1f× |\n", bl.Throughput, percentiles(*bl),
					errorCell(*bl), row.ThroughputRatio)
			} else {
				b.WriteString(" – | – | – | – | – | – |\n")
			}
		}
		b.WriteString("\n")
		r.loadErrors(b, rows)
	}
}

func (r *report) loadRows(name string) []loadResult {
	var rows []loadResult
	for _, l := range r.Load {
		if l.Snippet == name {
			rows = append(rows, l)
		}
	}
	return rows
}

// loadErrors lists example answers of the cells that had errors, and
// the cells that started while the CPUs were busy.
func (r *report) loadErrors(b *strings.Builder, rows []loadResult) {
	for _, row := range rows {
		for side, s := range map[string]*summary{"retool": &row.Retool, "baseline": row.Baseline} {
			if s != nil && s.BusyBefore {
				fmt.Fprintf(b, "- %s, concurrency %d: the CPUs were still busy when it started (another process?); treat with care.\n", side, row.Concurrency)
			}
			if s == nil || len(s.Examples) == 0 {
				continue
			}
			fmt.Fprintf(b, "- %s, concurrency %d: %s\n", side, row.Concurrency, breakdown(*s))
			for _, e := range s.Examples {
				fmt.Fprintf(b, "  - `%s`\n", strings.ReplaceAll(e, "`", "'"))
			}
		}
	}
	b.WriteString("\n")
}

// percentiles is the p50 | p90 | p99 cells, "≥" marking lower bounds.
func percentiles(s summary) string {
	return fmt.Sprintf("%s%.1f | %s%.1f | %s%.1f", s.bound("p50"), s.P50Ms, s.bound("p90"), s.P90Ms,
		s.bound("p99"), s.P99Ms)
}

// errorCell is the errors count, with the requests cut at the end of the
// cell in brackets.
func errorCell(s summary) string {
	if s.Cut == 0 {
		return fmt.Sprint(s.errors())
	}
	return fmt.Sprintf("%d (%d cut)", s.errors(), s.Cut)
}

// breakdown names the non-zero error counts of s.
func breakdown(s summary) string {
	counts := []struct {
		name string
		n    int
	}{{"wrong", s.Wrong}, {"failed", s.Failed}, {"SandboxError", s.SandboxError}, {"other HTTP", s.HTTPError},
		{"rejected after retries", s.Rejected}, {"timed out", s.Timeout}, {"connection errors", s.Transport}, {"cut", s.Cut}}
	var parts []string
	for _, c := range counts {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.name))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (r *report) execTable(b *strings.Builder) {
	e := r.Exec
	if e == nil {
		return
	}
	s := e.Summary
	fmt.Fprintf(b, "## %d executions at concurrency %d (print(1+1))\n\n", e.Spec.MaxRequests, e.Spec.Concurrency)
	b.WriteString("| sent | correct | wrong | lost (no answer) | other errors | 429s | exec/s | p50 | p99 | max | verdict |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	other := s.errors() - s.Wrong - s.lost()
	verdict := "PASS"
	if s.OK != e.Spec.MaxRequests {
		verdict = "FAIL"
	}
	fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %s |\n\n",
		s.Requests, s.OK, s.Wrong, s.lost(), other, s.Retries429, s.Throughput, s.P50Ms, s.P99Ms, s.MaxMs, verdict)
	examples(b, s)
}

func examples(b *strings.Builder, s summary) {
	if len(s.Examples) == 0 {
		return
	}
	fmt.Fprintf(b, "Errors: %s. Examples:\n\n", breakdown(s))
	for _, e := range s.Examples {
		fmt.Fprintf(b, "- `%s`\n", strings.ReplaceAll(e, "`", "'"))
	}
	b.WriteString("\n")
}

func (r *report) hostileTable(b *strings.Builder) {
	h := r.Hostile
	if h == nil {
		return
	}
	fmt.Fprintf(b, "## Hostile run (print(1+1) at concurrency %d, %s quiet then %s with %d hostile requests in flight, run_timeout %gs, memory_limit_MB %d)\n\n",
		h.Spec.Normal.Concurrency, h.Spec.Normal.Duration, h.Spec.Normal.Duration, h.Spec.AbuseConcurrency,
		h.Spec.AbuseRunTimeout, h.Spec.AbuseMemoryMB)
	b.WriteString("| traffic | requests | correct | errors | exec/s | p50 | p90 | p99 | max | answers |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	hostileRow(b, "normal, quiet", h.Quiet)
	hostileRow(b, "normal, under attack", h.Attacked)
	names := make([]string, 0, len(h.Abuse))
	for n := range h.Abuse {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hostileRow(b, n, h.Abuse[n])
	}
	verdict := "PASS"
	if h.P99Ratio > 2 || h.P99Ratio == 0 || !h.AliveAfter || h.Attacked.errors() > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(b, "\nNormal traffic's p99 under attack / quiet: **%.2f×** (target ≤ 2×; p50 %.2f×) — %s. Server alive and correct afterwards: %v %s\n\n",
		h.P99Ratio, h.P50Ratio, verdict, h.AliveAfter, h.AfterError)
	examples(b, h.Attacked)
}

func hostileRow(b *strings.Builder, name string, s summary) {
	fmt.Fprintf(b, "| %s | %d | %d | %s | %.1f | %s | %s%.1f | %s |\n", name, s.Requests, s.OK,
		errorCell(s), s.Throughput, percentiles(s), s.bound("max"), s.MaxMs, statuses(s.Statuses))
}

func statuses(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func (r *report) faultTable(b *strings.Builder) {
	f := r.Fault
	if f == nil {
		return
	}
	fmt.Fprintf(b, "## Fault run (print(1+1) at concurrency %d for %s; SIGKILL %s every %s)\n\n",
		f.Spec.Load.Concurrency, f.Spec.Load.Duration, f.Spec.Plugin, f.Spec.Interval)
	b.WriteString("| kill at | pids | requests in flight | failed in flight | failed after | failures | new process after | first correct answer after |\n")
	b.WriteString("|---:|---|---:|---:|---:|---|---:|---:|\n")
	for _, k := range f.Kills {
		if k.Error != "" {
			fmt.Fprintf(b, "| %.2f s | – | – | – | – | %s | – | – |\n", k.AtS, k.Error)
			continue
		}
		fmt.Fprintf(b, "| %.2f s | %v | %d | %d | %d | %s | %s | %s |\n", k.AtS, k.PIDs, k.InFlight, k.FailedInFlight,
			k.FailedAfter, statuses(k.Failures), msCell(k.ProcessBackMs), msCell(k.ServingBackMs))
	}
	s := f.Total
	verdict := "PASS"
	if !f.passed() {
		verdict = "FAIL"
	}
	workers := "unknown"
	if f.PoolWorkers > 0 {
		workers = fmt.Sprint(f.PoolWorkers)
	}
	fmt.Fprintf(b, "\nTotal: %d requests, %d correct (%.1f exec/s), %d hung, errors: %s; 429s %d, 503s %d. Failures not SandboxError: %d; failed before the first kill: %d. Most failures after one kill: %d (the plugin's warm workers, i.e. executions that can be in flight on it: %s). Back within: median %.0f ms, max %.0f ms (target ≤ 1000 ms). Verdict (no hang, only SandboxError, only executions in flight fail, back ≤ 1 s): **%s**.\n\n",
		s.Requests, s.OK, s.Throughput, f.Hung, breakdown(s), s.Retries429, s.Retries503, f.NonSandboxError, f.FailedBefore,
		f.MaxFailedKill, workers, f.MedianServingMs, f.MaxServingMs, verdict)
	examples(b, s)
}

func msCell(v float64) string {
	if v < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0f ms", v)
}

func (r *report) serverSection(b *strings.Builder) {
	s := r.Server
	b.WriteString("## Server\n\n")
	fmt.Fprintf(b, "- Shutdown on SIGTERM: graceful %v in %.2f s%s; plugin processes left after exit: %d.\n",
		s.Shutdown.Graceful, s.Shutdown.Seconds, exitNote(s.Shutdown.ExitError), s.Shutdown.Leftovers)
	fmt.Fprintf(b, "- Log lines with ERROR/panic/fatal: %d.\n", s.LogErrorCount)
	for _, l := range s.LogErrors[:min(len(s.LogErrors), 5)] {
		fmt.Fprintf(b, "  - `%s`\n", strings.ReplaceAll(clip(l, 300), "`", "'"))
	}
	b.WriteString("\nRaw numbers, metrics and settings: serve.json.\n")
}

func exitNote(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

func repeats(n int) string {
	if n <= 1 {
		return "run once"
	}
	return fmt.Sprintf("run %d times (medians shown; counts summed)", n)
}

// loadAvg1 is the one-minute figure of /proc/loadavg.
func loadAvg1(s string) string {
	f, _, _ := strings.Cut(s, " ")
	return f
}

func firstLine(s string) string {
	line, _, more := strings.Cut(strings.TrimSpace(s), "\n")
	if more {
		return line + " …"
	}
	return line
}
