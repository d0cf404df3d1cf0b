package main

import (
	"context"
	"sync"
	"time"
)

// hostileSpec is the hostile run: Normal traffic measured alone, then
// again while Abuse workers send hostile snippets in rotation.
type hostileSpec struct {
	Normal            loadSpec `json:"normal"`
	AbuseConcurrency  int      `json:"abuse_concurrency"`
	AbuseRunTimeout   float64  `json:"abuse_run_timeout_s"`
	AbuseMemoryMB     int      `json:"abuse_memory_limit_mb"`
	AbuseSnippetNames []string `json:"abuse_snippets"`
}

// hostileResult compares normal traffic quiet and under abuse.
type hostileResult struct {
	Spec     hostileSpec        `json:"spec"`
	Quiet    summary            `json:"quiet"`
	Attacked summary            `json:"attacked"`
	Abuse    map[string]summary `json:"abuse"` // per hostile snippet
	P50Ratio float64            `json:"p50_ratio"`
	P99Ratio float64            `json:"p99_ratio"` // attacked p99 / quiet p99; target ≤ 2
	// AliveAfter: /v1/ping and a correct print(1+1) right after the run.
	AliveAfter bool   `json:"alive_after"`
	AfterError string `json:"after_error,omitempty"`
}

// runHostile measures normal quietly, then under abuse.
func runHostile(ctx context.Context, c *client, normal workSource, spec hostileSpec, abuse []snippet) (hostileResult, error) {
	r := hostileResult{Spec: spec, Abuse: map[string]summary{}}
	abuseWork, err := rotatingWork(abuse, spec.AbuseRunTimeout, spec.AbuseMemoryMB)
	if err != nil {
		return r, err
	}
	quiet := (&loadRun{}).runLoad(ctx, c, spec.Normal, time.Now(), normal)
	r.Quiet = summarize(quiet, span(quiet))

	abuseSpec := loadSpec{Concurrency: spec.AbuseConcurrency, Duration: spec.Normal.Duration,
		Drain: time.Duration(spec.AbuseRunTimeout*float64(time.Second)) + spec.Normal.Drain}
	origin := time.Now()
	var bad []outcome
	var wg sync.WaitGroup
	wg.Go(func() { bad = (&loadRun{}).runLoad(ctx, c, abuseSpec, origin, abuseWork) })
	attacked := (&loadRun{}).runLoad(ctx, c, spec.Normal, origin, normal)
	wg.Wait()
	r.Attacked = summarize(attacked, span(attacked))
	for _, s := range abuse {
		outs := filter(bad, s.Name)
		r.Abuse[s.Name] = summarize(outs, span(outs))
	}
	r.P50Ratio = ratio(r.Attacked.P50Ms, r.Quiet.P50Ms)
	r.P99Ratio = ratio(r.Attacked.P99Ms, r.Quiet.P99Ms)
	return r, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
