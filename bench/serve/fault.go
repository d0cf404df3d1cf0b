package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"
)

// faultSpec is the fault run: load on one snippet while the runtime
// plugin named Plugin is killed with SIGKILL every Interval.
type faultSpec struct {
	Load     loadSpec      `json:"load"`
	Interval time.Duration `json:"interval_ns"`
	Plugin   string        `json:"plugin"`
}

// kill is one SIGKILL of the plugin and what followed it.
type kill struct {
	AtS      float64 `json:"at_s"`
	PIDs     []int   `json:"pids"`
	InFlight int64   `json:"in_flight"` // requests the harness had outstanding at the kill
	// ProcessBackMs: until a new plugin process exists (-1: not seen
	// before the next kill).
	ProcessBackMs float64 `json:"process_back_ms"`
	// ServingBackMs: until the first correct answer to a request sent
	// after the kill (-1: none).
	ServingBackMs float64 `json:"serving_back_ms"`
	// Failures answered after this kill and before the next one:
	// FailedInFlight were sent before the kill, FailedAfter after it.
	// Failures maps kind/status to a count for both.
	FailedInFlight int            `json:"failed_in_flight"`
	FailedAfter    int            `json:"failed_after"`
	Failures       map[string]int `json:"failures,omitempty"`
	Error          string         `json:"error,omitempty"`
}

// faultResult is the fault run's outcome.
type faultResult struct {
	Spec            faultSpec `json:"spec"`
	Total           summary   `json:"total"`
	Kills           []kill    `json:"kills"`
	Hung            int       `json:"hung"`              // requests without an answer within the timeout
	NonSandboxError int       `json:"non_sandbox_error"` // failures whose status was not SandboxError
	FailedBefore    int       `json:"failed_before_first_kill"`
	MaxServingMs    float64   `json:"max_serving_back_ms"`
	MedianServingMs float64   `json:"median_serving_back_ms"`
	MaxProcessMs    float64   `json:"max_process_back_ms"`
	// PoolWorkers is the plugin's warm workers from /metrics before the
	// run (0: unknown): at most that many executions run on the plugin,
	// so at most that many may fail per kill.
	PoolWorkers    int  `json:"pool_workers"`
	MaxFailedKill  int  `json:"max_failed_per_kill"`
	OnlyInFlight   bool `json:"only_in_flight_failed"` // every kill's failures ≤ PoolWorkers
	MissedRecovery bool `json:"missed_recovery"`       // some kill was never followed by a correct answer
}

// passed is the fault run's verdict against the targets.
func (r faultResult) passed() bool {
	return len(r.Kills) > 0 && r.Hung == 0 && r.NonSandboxError == 0 && r.FailedBefore == 0 &&
		!r.MissedRecovery && r.MaxServingMs <= 1000 && r.OnlyInFlight
}

// runFault runs the load and the killer side by side.
func runFault(ctx context.Context, c *client, work workSource, spec faultSpec, pluginDir string, poolWorkers int) faultResult {
	lr := &loadRun{}
	origin := time.Now()
	var kills []kill
	var wg sync.WaitGroup
	wg.Go(func() { kills = killLoop(ctx, lr, origin, spec, pluginDir) })
	outs := lr.runLoad(ctx, c, spec.Load, origin, work)
	wg.Wait()
	return analyseFault(spec, outs, kills, poolWorkers)
}

// killLoop kills the plugin every interval while the load runs, leaving
// the last second of the run for the recovery to show.
func killLoop(ctx context.Context, lr *loadRun, origin time.Time, spec faultSpec, pluginDir string) []kill {
	var kills []kill
	for {
		if !sleepCtx(ctx, spec.Interval) || time.Since(origin)+time.Second > spec.Load.Duration {
			return kills
		}
		kills = append(kills, killOnce(ctx, lr, origin, spec, pluginDir))
	}
}

func killOnce(ctx context.Context, lr *loadRun, origin time.Time, spec faultSpec, pluginDir string) kill {
	k := kill{AtS: time.Since(origin).Seconds(), ProcessBackMs: -1, ServingBackMs: -1}
	pids := pluginPIDs(pluginDir, spec.Plugin)
	if len(pids) == 0 {
		k.Error = fmt.Sprintf("no %s process found under %s", spec.Plugin, pluginDir)
		return k
	}
	k.InFlight = lr.inFlight.Load()
	k.AtS = time.Since(origin).Seconds()
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			k.PIDs = append(k.PIDs, pid)
		}
	}
	if back, ok := waitNewPlugin(ctx, pluginDir, spec.Plugin, pids, spec.Interval); ok {
		k.ProcessBackMs = ms(back)
	}
	return k
}

// waitNewPlugin polls /proc until a plugin process other than old runs;
// it returns the time that took.
func waitNewPlugin(ctx context.Context, pluginDir, name string, old []int, limit time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		for _, pid := range pluginPIDs(pluginDir, name) {
			if !slices.Contains(old, pid) {
				return time.Since(t0), true
			}
		}
		if !sleepCtx(ctx, 2*time.Millisecond) {
			return 0, false
		}
	}
	return 0, false
}

// analyseFault attributes every failure to the kill it followed.
func analyseFault(spec faultSpec, outs []outcome, kills []kill, poolWorkers int) faultResult {
	r := faultResult{Spec: spec, Total: summarize(outs, span(outs)), Kills: kills, PoolWorkers: poolWorkers}
	r.Hung = r.Total.Timeout
	var serving []float64
	for i := range r.Kills {
		k := &r.Kills[i]
		at := time.Duration(k.AtS * float64(time.Second))
		next := time.Duration(1<<62 - 1)
		if i+1 < len(r.Kills) {
			next = time.Duration(r.Kills[i+1].AtS * float64(time.Second))
		}
		attribute(k, outs, at, next)
		if k.ServingBackMs >= 0 {
			serving = append(serving, k.ServingBackMs)
		}
		if k.Error != "" || k.ServingBackMs < 0 {
			r.MissedRecovery = true
		}
		r.MaxFailedKill = max(r.MaxFailedKill, k.FailedInFlight+k.FailedAfter)
		r.MaxProcessMs = max(r.MaxProcessMs, k.ProcessBackMs)
	}
	for _, o := range outs {
		if o.Kind == kindOK || o.Kind == kindCut {
			continue
		}
		if o.Kind != kindSandboxError {
			r.NonSandboxError++
		}
		if len(r.Kills) == 0 || o.End < time.Duration(r.Kills[0].AtS*float64(time.Second)) {
			r.FailedBefore++
		}
	}
	r.OnlyInFlight = poolWorkers > 0 && r.MaxFailedKill <= poolWorkers
	if len(serving) > 0 {
		slices.Sort(serving)
		r.MaxServingMs = serving[len(serving)-1]
		r.MedianServingMs = serving[len(serving)/2]
	}
	return r
}

// attribute fills k from the outcomes around its time at (the next kill
// is at next). A failure belongs to the last kill before its answer: it
// was in flight at the kill or sent after it.
func attribute(k *kill, outs []outcome, at, next time.Duration) {
	k.Failures = map[string]int{}
	firstOK := time.Duration(-1)
	for _, o := range outs {
		switch {
		case o.Kind == kindCut:
		case o.Kind == kindOK:
			if o.Start >= at && (firstOK < 0 || o.End < firstOK) {
				firstOK = o.End
			}
		case o.End < at || o.End >= next:
		case o.Start < at:
			k.FailedInFlight++
			k.Failures[failureKey(o)]++
		default:
			k.FailedAfter++
			k.Failures[failureKey(o)]++
		}
	}
	if firstOK >= 0 {
		k.ServingBackMs = ms(firstOK - at)
	}
}

func failureKey(o outcome) string {
	if o.Status != "" {
		return fmt.Sprintf("%s %d %s", o.Kind, o.HTTPStatus, o.Status)
	}
	return fmt.Sprintf("%s %d", o.Kind, o.HTTPStatus)
}
