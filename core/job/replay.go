package job

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/retool-rl/retool/core/execution"
)

// Executor runs one execution (the orchestrator does).
type Executor interface {
	Execute(ctx context.Context, req *execution.Request) (execution.Result, error)
}

// Trace is one recorded tool call: the code a model wrote and the output
// the recording sandbox gave it.
type Trace struct {
	ID     string
	Code   string
	Output string
}

var (
	codeBlock   = regexp.MustCompile("(?s)```python\n(.*?)```")
	outputBlock = regexp.MustCompile("(?s)```output\n(.*?)```")
)

// LoadTraces reads ToRA-format JSONL (`code`: a list holding one response
// with ```python and ```output blocks) and keeps the first tool call of
// each line that has one.
func LoadTraces(path string, limit int) ([]Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load traces: %w", err)
	}
	defer f.Close()
	var out []Trace
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		var rec struct {
			Idx  json.Number `json:"idx"`
			Code []string    `json:"code"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("load traces: %s:%d: %w", path, line, err)
		}
		if len(rec.Code) == 0 {
			continue
		}
		c := codeBlock.FindStringSubmatchIndex(rec.Code[0])
		if c == nil {
			continue
		}
		o := outputBlock.FindStringSubmatch(rec.Code[0][c[1]:])
		if o == nil {
			continue
		}
		out = append(out, Trace{ID: fmt.Sprintf("%s:%d", path, line), Code: rec.Code[0][c[2]:c[3]], Output: o[1]})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("load traces: %s: %w", path, err)
	}
	return out, nil
}

// ReplayReport summarises a replay.
type ReplayReport struct {
	Traces   int
	Matched  int
	Statuses map[string]int
	Errors   int
	Latency  []time.Duration // sorted
	Elapsed  time.Duration
	Mismatch []string // first few, for the user to look at
}

// Percentile of the sorted latencies.
func (r *ReplayReport) Percentile(p float64) time.Duration {
	if len(r.Latency) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(r.Latency)-1))
	return r.Latency[i]
}

// Replay executes every trace with bounded concurrency; progress is
// called after each one.
func Replay(ctx context.Context, ex Executor, traces []Trace, language string, concurrency int, progress func()) *ReplayReport {
	if concurrency < 1 {
		concurrency = 1
	}
	rep := &ReplayReport{Traces: len(traces), Statuses: map[string]int{}}
	var mu sync.Mutex
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for _, t := range traces {
		sem <- struct{}{}
		wg.Add(1)
		go func(t Trace) {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			res, err := ex.Execute(ctx, &execution.Request{Language: language, Code: t.Code,
				Limits: execution.Limits{WallTime: 5 * time.Second}})
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if progress != nil {
				progress()
			}
			if err != nil {
				rep.Errors++
				if len(rep.Mismatch) < 5 {
					rep.Mismatch = append(rep.Mismatch, fmt.Sprintf("%s: %v", t.ID, err))
				}
				return
			}
			rep.Latency = append(rep.Latency, d)
			rep.Statuses[res.Status.String()]++
			if strings.TrimSpace(string(res.Stdout)) == strings.TrimSpace(t.Output) {
				rep.Matched++
			} else if len(rep.Mismatch) < 5 {
				rep.Mismatch = append(rep.Mismatch, fmt.Sprintf("%s: recorded %q, got %q (%s)", t.ID,
					clip(t.Output), clip(string(res.Stdout)+string(res.Stderr)), res.Status))
			}
		}(t)
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	sort.Slice(rep.Latency, func(i, j int) bool { return rep.Latency[i] < rep.Latency[j] })
	return rep
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-37:]
	}
	return s
}

// Write prints the report as a short table.
func (r *ReplayReport) Write(w io.Writer) {
	fmt.Fprintf(w, "replayed %d recorded tool calls in %s\n", r.Traces, r.Elapsed.Round(time.Millisecond))
	pct := 0.0
	if r.Traces > 0 {
		pct = 100 * float64(r.Matched) / float64(r.Traces)
	}
	fmt.Fprintf(w, "  output identical to the recording: %d/%d (%.1f%%)\n", r.Matched, r.Traces, pct)
	keys := make([]string, 0, len(r.Statuses))
	for k := range r.Statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  status %-13s %d\n", k, r.Statuses[k])
	}
	if r.Errors > 0 {
		fmt.Fprintf(w, "  refused or not attempted: %d\n", r.Errors)
	}
	fmt.Fprintf(w, "  latency p50 %s  p90 %s  p99 %s\n", r.Percentile(50).Round(time.Microsecond),
		r.Percentile(90).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond))
	for _, m := range r.Mismatch {
		fmt.Fprintf(w, "  differs: %s\n", m)
	}
}
