package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/trainer/policy"
)

// step is one scripted generation.
type step struct {
	text   string
	finish string // "stop" when empty
	stop   string // the StopSequence reported
	tokens []string
	err    error
	hang   bool // block until the context ends
}

// scriptPolicy replays canned generations. A request's trajectory is the
// script whose key (a marker in the question) the prompt contains; its
// turn is how many feedback markers follow the key. It is stateless per
// request, so concurrent trajectories cannot mix up their turns.
type scriptPolicy struct {
	scripts map[string][]step
	marker  string        // counted after the key: "</interpreter>", "</tool_response>", "```output\n"
	delay   time.Duration // per generation

	mu          sync.Mutex
	inflight    int
	maxInflight int
	reqs        []policy.Request
}

func (p *scriptPolicy) Generate(ctx context.Context, req policy.Request) ([]policy.Completion, error) {
	p.mu.Lock()
	p.inflight++
	p.maxInflight = max(p.maxInflight, p.inflight)
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}()
	var steps []step
	after := ""
	for k, s := range p.scripts {
		if i := strings.Index(req.Prompt, k); i >= 0 {
			steps, after = s, req.Prompt[i+len(k):]
			break
		}
	}
	if steps == nil {
		return nil, fmt.Errorf("no script for prompt %.60q", req.Prompt)
	}
	n := strings.Count(after, p.marker)
	if n >= len(steps) {
		return nil, fmt.Errorf("script exhausted at turn %d", n)
	}
	st := steps[n]
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if st.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if st.err != nil {
		return nil, st.err
	}
	c := policy.Completion{Text: st.text, FinishReason: st.finish, StopSequence: st.stop, Tokens: st.tokens}
	if c.FinishReason == "" {
		c.FinishReason = "stop"
	}
	for range st.tokens {
		c.Logprobs = append(c.Logprobs, -0.5)
	}
	return []policy.Completion{c}, nil
}

func (p *scriptPolicy) requests() []policy.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]policy.Request(nil), p.reqs...)
}

// fakeExec runs nothing: run decides each result (default: it echoes the
// language and code). It counts executions in flight.
type fakeExec struct {
	langs    map[string]string
	langsErr error
	run      func(ctx context.Context, req *execution.Request) (execution.Result, error)
	delay    time.Duration

	mu          sync.Mutex
	inflight    int
	maxInflight int
	reqs        []execution.Request
}

func newFakeExec() *fakeExec {
	return &fakeExec{langs: map[string]string{"python": "python", "python3": "python", "sympy": "sympy"}}
}

func (f *fakeExec) Languages() (map[string]string, error) { return f.langs, f.langsErr }

func (f *fakeExec) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	f.mu.Lock()
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.reqs = append(f.reqs, *req)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.run != nil {
		return f.run(ctx, req)
	}
	return execution.Result{Status: execution.Finished, Stdout: []byte(fmt.Sprintf("ran %s: %s\n", req.Language, req.Code))}, nil
}

func (f *fakeExec) requests() []execution.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]execution.Request(nil), f.reqs...)
}

var errServerDown = errors.New("POST http://policy/v1/completions: 503 Service Unavailable (after 5 attempts)")
