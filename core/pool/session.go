package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/retool-rl/retool/core/execution"
)

// ErrSessionClosed is returned by a session that ended (closed, or killed
// after a timeout).
var ErrSessionClosed = errors.New("session closed")

// Session is a stateful interpreter: globals persist across executions.
// It owns a worker of its own for its whole life, so one session's state
// or failures never touch another execution; the pool starts a
// replacement so its capacity is unchanged.
type Session struct {
	mu     sync.Mutex
	p      *Pool
	w      *forkWorker
	lim    execution.Limits
	closed bool
}

// OpenSession dedicates a warm worker to a new session.
func (p *Pool) OpenSession(ctx context.Context, limits execution.Limits) (*Session, error) {
	if p.cfg.Driver.Mode != ForkServer {
		return nil, ErrNotForkServer
	}
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", execution.ErrInvalid, err)
	}
	lim := limits.WithDefaults(p.cfg.Defaults)
	w, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	p.release(nopWorker{}, false) // a replacement keeps the pool's size
	fw := w.(*forkWorker)
	fw.session = true
	fw.limits = sandboxLimits(lim, fw.baseline, 4)
	if err := fw.sb.SetLimits(fw.limits); err != nil {
		fw.close()
		return nil, fmt.Errorf("open session: set limits: %w", err)
	}
	fw.seq++
	if err := fw.c.send(execMsg{Op: "session", ID: fw.seq, RLimits: execRLimits(lim, true)}); err != nil {
		fw.close()
		return nil, fmt.Errorf("open session: %w", err)
	}
	select {
	case ev, ok := <-fw.events:
		if !ok || ev.Ev != "session" {
			fw.close()
			return nil, fmt.Errorf("open session: driver refused: %s", ev.Error)
		}
	case <-time.After(10 * time.Second):
		fw.close()
		return nil, errors.New("open session: driver did not answer")
	case <-ctx.Done():
		fw.close()
		return nil, ctx.Err()
	}
	return &Session{p: p, w: fw, lim: lim}, nil
}

// Execute runs code in the session's globals. A timeout, output overflow
// or crash ends the session (its interpreter is killed); the result says
// so and later calls return ErrSessionClosed.
func (s *Session) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	if err := req.Validate(); err != nil {
		return execution.Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return execution.Result{}, ErrSessionClosed
	}
	lim := req.Limits.WithDefaults(s.lim)
	// A session's process limits were fixed when it opened.
	lim.MemoryBytes, lim.Pids = s.lim.MemoryBytes, s.lim.Pids
	res, ok := s.w.exec(ctx, req, lim)
	if !ok || res.Status == execution.Timeout || res.Status == execution.OutputLimit || res.Status == execution.SandboxError {
		s.closeLocked()
		res.Message = fmt.Sprintf("%s; the session was closed", res.Message)
	}
	return res, nil
}

// Close ends the session and its worker.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	s.closeLocked()
	return nil
}

func (s *Session) closeLocked() {
	s.closed = true
	s.p.retire(s.w)
}

// nopWorker stands for a worker taken out of the pool on purpose.
type nopWorker struct{}

func (nopWorker) exec(context.Context, *execution.Request, execution.Limits) (execution.Result, bool) {
	return execution.Result{}, false
}
func (nopWorker) close() {}
