package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/sandbox"
)

// Mode says how a driver turns a warm interpreter into executions.
type Mode int

const (
	// ForkServer: the driver speaks the zygote protocol on fd 3 and forks
	// one child per execution (Python).
	ForkServer Mode = iota
	// Prespawn: each worker is one interpreter started ahead of time that
	// reads its code from fd 3, runs it once with fds 0-2 and exits
	// (languages whose runtimes cannot fork: Node.js, Julia).
	Prespawn
)

// Driver is the interpreter program a runtime runs in its workers.
type Driver struct {
	Mode Mode
	// Path, Args and Env as seen inside the sandbox; driver files are
	// placed under /.retool/.
	Path  string
	Args  []string
	Env   []string
	Files map[string][]byte
	// ReadOnlyPaths the interpreter needs beyond the system directories.
	ReadOnlyPaths []string
	// StartTimeout bounds a worker's start (imports included).
	StartTimeout time.Duration
}

// Config configures a pool.
type Config struct {
	Name         string
	Size         int
	Sandbox      sandbox.Sandbox
	Driver       Driver
	Defaults     execution.Limits
	WorkDirBytes int64
	AllowNetwork bool
	Logger       hclog.Logger
	// DemoteAfter is how long an execution on a fork-server worker runs
	// before the worker's CPU weight is lowered (0: defaultDemoteAfter;
	// negative: never). Prespawn workers are not demoted.
	DemoteAfter time.Duration
}

// ErrClosed is returned by a pool that has been closed.
var ErrClosed = errors.New("pool closed")

// Pool runs executions on warm workers.
type Pool struct {
	cfg      Config
	log      hclog.Logger
	idle     chan worker
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	alive    atomic.Int32
	restarts atomic.Int64
	mu       sync.Mutex
	lastErr  error
	// startFailed is closed (and replaced) whenever a restart fails.
	startFailed chan struct{}
	// all holds every live worker, busy ones included, so that Close
	// stops executions in flight instead of leaving their sandboxes.
	all map[worker]struct{}
}

// worker is one warm interpreter.
type worker interface {
	// exec runs one request; reusable says whether the worker can take
	// another one.
	exec(ctx context.Context, req *execution.Request, lim execution.Limits) (res execution.Result, reusable bool)
	close()
}

// New starts cfg.Size workers and returns when all are warm; it fails if
// the first worker cannot start (a missing interpreter, say).
func New(ctx context.Context, cfg Config) (*Pool, error) {
	if cfg.Size <= 0 {
		cfg.Size = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Driver.StartTimeout == 0 {
		cfg.Driver.StartTimeout = 60 * time.Second
	}
	if cfg.DemoteAfter == 0 {
		cfg.DemoteAfter = defaultDemoteAfter
	}
	cfg.Defaults = cfg.Defaults.WithDefaults(execution.DefaultLimits)
	pctx, cancel := context.WithCancel(context.Background())
	p := &Pool{cfg: cfg, log: cfg.Logger, idle: make(chan worker, cfg.Size), ctx: pctx, cancel: cancel,
		all: map[worker]struct{}{}, startFailed: make(chan struct{})}
	errs := make(chan error, cfg.Size)
	for i := 0; i < cfg.Size; i++ {
		go func() {
			w, err := p.start(ctx)
			if err == nil {
				p.alive.Add(1)
				p.idle <- w
			}
			errs <- err
		}()
	}
	var first error
	for i := 0; i < cfg.Size; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		p.Close()
		return nil, fmt.Errorf("start %s workers: %w", cfg.Name, first)
	}
	return p, nil
}

func (p *Pool) start(ctx context.Context) (worker, error) {
	var w worker
	var err error
	if p.cfg.Driver.Mode == Prespawn {
		w, err = startPrespawn(ctx, p)
	} else {
		w, err = startFork(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		w.close()
		return nil, ErrClosed
	}
	p.all[w] = struct{}{}
	return w, nil
}

// retire closes a worker for good.
func (p *Pool) retire(w worker) {
	p.mu.Lock()
	delete(p.all, w)
	p.mu.Unlock()
	w.close()
}

// Stats describe the pool now.
type Stats struct {
	Ready, Total int
	Restarts     int64
	LastError    error
}

// Stats reports the pool's workers.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Ready: len(p.idle), Total: int(p.alive.Load()), Restarts: p.restarts.Load(), LastError: p.lastErr}
}

// Degraded names the mechanisms this pool's sandbox replaces.
func (p *Pool) Degraded() []string { return p.cfg.Sandbox.Degraded() }

// Execute runs one request on a warm worker. An error means the request
// was refused or could not be attempted; what the code did is in Result.
func (p *Pool) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	if err := req.Validate(); err != nil {
		return execution.Result{}, err
	}
	lim := req.Limits.WithDefaults(p.cfg.Defaults)
	w, err := p.acquire(ctx)
	if err != nil {
		return execution.Result{}, err
	}
	res, reusable := w.exec(ctx, req, lim)
	res.Degraded = p.cfg.Sandbox.Degraded()
	p.release(w, reusable)
	return res, nil
}

func (p *Pool) acquire(ctx context.Context) (worker, error) {
	select {
	case w := <-p.idle:
		return w, nil
	default:
	}
	for {
		p.mu.Lock()
		err, failed := p.lastErr, p.startFailed
		p.mu.Unlock()
		if err != nil && p.alive.Load() == 0 {
			return nil, fmt.Errorf("no %s worker is running: %w", p.cfg.Name, err)
		}
		// A restart under way may fail: wake then, and answer with its
		// error instead of waiting out the caller's deadline.
		select {
		case w := <-p.idle:
			return w, nil
		case <-failed:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a %s worker: %w", p.cfg.Name, ctx.Err())
		case <-p.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// release returns a worker or, when it cannot serve again, replaces it
// in the background so that the caller never waits for a restart.
func (p *Pool) release(w worker, reusable bool) {
	if reusable && p.ctx.Err() == nil {
		p.idle <- w
		return
	}
	p.alive.Add(-1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.retire(w)
		p.replace()
	}()
}

func (p *Pool) replace() {
	backoff := 50 * time.Millisecond
	for p.ctx.Err() == nil {
		w, err := p.start(p.ctx)
		if err == nil {
			p.mu.Lock()
			p.lastErr = nil
			p.mu.Unlock()
			p.alive.Add(1)
			p.restarts.Add(1)
			p.idle <- w
			return
		}
		p.mu.Lock()
		p.lastErr = err
		close(p.startFailed)
		p.startFailed = make(chan struct{})
		p.mu.Unlock()
		p.log.Warn("worker restart failed", "runtime", p.cfg.Name, "error", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-p.ctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Close stops every worker, busy ones included (their executions end as
// sandbox errors), and waits for replacements under way.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.cancel()
	ws := make([]worker, 0, len(p.all))
	for w := range p.all {
		ws = append(ws, w)
	}
	p.all = map[worker]struct{}{}
	p.mu.Unlock()
	for _, w := range ws {
		w.close()
	}
	p.wg.Wait()
	for {
		select {
		case <-p.idle:
			p.alive.Add(-1)
		default:
			return nil
		}
	}
}

// sandboxLimits turns an execution's limits into the worker's cgroup
// limits: the interpreter's own footprint plus what the code may use.
func sandboxLimits(lim execution.Limits, baseline int64, extraPids int) sandbox.Limits {
	return sandbox.Limits{MemoryBytes: lim.MemoryBytes + baseline, Pids: lim.Pids + extraPids, CPUs: 1, CPUShares: sharesNormal}
}

// An execution on a fork-server worker starts with the kernel's default
// CPU weight and is demoted to a sixteenth of it once it has run for
// Config.DemoteAfter: under contention, the short executions that make
// up RL traffic then keep the CPUs, and a spinning, forking or
// allocating one only gets what they leave (it still has its whole wall
// time). Hostile runs, normal p99 attacked/quiet: a quarter 1.66-2.02×,
// a sixteenth 1.71-1.86×, a 64th 1.50-1.74×. CPU-bound executions run
// many at once pay for it, as the old ones yield to the young: 50 ms
// loops at concurrency 8 had a p99 of ~0.5 s with a quarter and ~1 s
// with a sixteenth (such workloads want demote_after = "off"). A
// killed execution gets its weight back first, and the zygote kills an
// isolated worker's processes at once (kill(-1)), so a bomb is gone
// within ~0.5 s of its wall time.
const (
	sharesNormal  = 1024
	sharesDemoted = 64
	// defaultDemoteAfter is well above a short execution's time on a
	// loaded host (print(1+1) takes 5-40 ms at 64 requests in flight on
	// 2 cores) and well below a wall-time limit.
	defaultDemoteAfter = 100 * time.Millisecond
)

// stdio holds an execution's three stdio descriptors: pipes, except an
// empty stdin, which is /dev/null (inW nil).
type stdio struct {
	inR, inW, outR, outW, errR, errW *os.File
}

// devNull is shared by every execution without stdin: most have none, and
// a pipe costs the host two descriptors, their poller registrations and a
// close each (a visible share of its CPU per execution).
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// newStdio makes an execution's stdio; stdin is a pipe if pipeIn (the
// caller feeds it), else /dev/null.
func newStdio(pipeIn bool) (*stdio, error) {
	var s stdio
	var err error
	if pipeIn {
		s.inR, s.inW, err = os.Pipe()
	} else {
		s.inR, err = devNull()
	}
	if err != nil {
		return nil, err
	}
	if s.outR, s.outW, err = os.Pipe(); err != nil {
		s.closeAll()
		return nil, err
	}
	if s.errR, s.errW, err = os.Pipe(); err != nil {
		s.closeAll()
		return nil, err
	}
	return &s, nil
}

func (s *stdio) closeChildEnds() {
	in := s.inR
	if s.inW == nil {
		in = nil // the shared /dev/null stays open
	}
	for _, f := range []*os.File{in, s.outW, s.errW} {
		if f != nil {
			f.Close()
		}
	}
}

func (s *stdio) closeAll() {
	s.closeChildEnds()
	for _, f := range []*os.File{s.inW, s.outR, s.errR} {
		if f != nil {
			f.Close()
		}
	}
}

// feed writes stdin and closes it; a child that never reads is fine.
func feed(w *os.File, data []byte) {
	if w == nil {
		return // /dev/null
	}
	if len(data) == 0 {
		w.Close()
		return
	}
	go func() {
		if len(data) > 0 {
			_, _ = w.Write(data)
		}
		w.Close()
	}()
}
