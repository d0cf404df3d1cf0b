package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one closed-loop run: Concurrency workers send requests
// back to back until Duration has passed or MaxRequests were sent; then
// the requests in flight get Drain to finish before they are cut.
type loadSpec struct {
	Concurrency int           `json:"concurrency"`
	Duration    time.Duration `json:"duration_ns"`
	MaxRequests int           `json:"max_requests,omitempty"`
	Drain       time.Duration `json:"drain_ns"`
}

// workItem is one request to send: its body, expected stdout and a tag
// that names it in the results.
type workItem struct {
	body []byte
	want string
	tag  string
}

// workSource hands out the n-th request of a run.
type workSource func(n int) workItem

// fixedWork sends the same snippet every time.
func fixedWork(s snippet, runTimeout float64, memoryMB int) (workSource, error) {
	body, err := json.Marshal(s.request(runTimeout, memoryMB))
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", s.Name, err)
	}
	item := workItem{body: body, want: s.Want, tag: s.Name}
	return func(int) workItem { return item }, nil
}

// rotatingWork cycles through snippets.
func rotatingWork(ss []snippet, runTimeout float64, memoryMB int) (workSource, error) {
	items := make([]workItem, len(ss))
	for i, s := range ss {
		body, err := json.Marshal(s.request(runTimeout, memoryMB))
		if err != nil {
			return nil, fmt.Errorf("encode %s request: %w", s.Name, err)
		}
		items[i] = workItem{body: body, want: s.Want, tag: s.Name}
	}
	return func(n int) workItem { return items[n%len(items)] }, nil
}

// transportBackoff is a worker's pause after a connection error.
const transportBackoff = 10 * time.Millisecond

// loadRun is a run in progress; its inFlight count can be read meanwhile.
type loadRun struct {
	inFlight atomic.Int64
}

// runLoad drives c with spec and returns every request's outcome, in no
// particular order. origin is the zero of the outcomes' times.
func (lr *loadRun) runLoad(ctx context.Context, c *client, spec loadSpec, origin time.Time, work workSource) []outcome {
	cutCtx, cut := context.WithCancel(ctx)
	defer cut()
	var issued atomic.Int64
	deadline := time.Now().Add(spec.Duration)
	results := make([][]outcome, spec.Concurrency)
	var wg sync.WaitGroup
	for w := range spec.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := int(issued.Add(1)) - 1
				if spec.MaxRequests > 0 && n >= spec.MaxRequests {
					return
				}
				item := work(n)
				lr.inFlight.Add(1)
				o := c.run(cutCtx, origin, item.body, item.want)
				lr.inFlight.Add(-1)
				o.Tag = item.tag
				results[w] = append(results[w], o)
				if o.Kind == kindTransport {
					sleepCtx(cutCtx, transportBackoff) // do not spin on a dead server
				}
			}
		})
	}
	waitDrained(&wg, deadline, spec.Drain, cut)
	var all []outcome
	for _, r := range results {
		all = append(all, r...)
	}
	return all
}

// waitDrained waits for wg; once deadline+drain has passed it cuts the
// requests still in flight and waits for the workers to notice.
func waitDrained(wg *sync.WaitGroup, deadline time.Time, drain time.Duration, cut func()) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(deadline.Add(drain)))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cut()
		<-done
	}
}
