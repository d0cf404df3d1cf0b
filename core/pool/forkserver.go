package pool

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/sandbox"
)

// event is a driver's message to the host.
type event struct {
	Ev       string     `json:"ev"`
	ID       int64      `json:"id"`
	Code     int        `json:"code"`
	Signal   int        `json:"signal"`
	UtimeUs  int64      `json:"utime_us"`
	StimeUs  int64      `json:"stime_us"`
	MaxrssKB int64      `json:"maxrss_kb"`
	Files    []wireFile `json:"files"`
	Errors   []string   `json:"errors"`
	Error    string     `json:"error"`
	Display  *string    `json:"display"`
}

type wireFile struct {
	Path string `json:"path"`
	Data string `json:"data"`
}

type rlimits struct {
	CPU    int64 `json:"cpu,omitempty"`
	FSize  int64 `json:"fsize,omitempty"`
	NoFile int   `json:"nofile,omitempty"`
	NProc  int   `json:"nproc,omitempty"`
	AS     int64 `json:"as,omitempty"`
}

type execMsg struct {
	Op      string     `json:"op"`
	ID      int64      `json:"id"`
	Code    string     `json:"code,omitempty"`
	Files   []wireFile `json:"files,omitempty"`
	Fetch   []string   `json:"fetch,omitempty"`
	RLimits rlimits    `json:"rlimits"`
	Display bool       `json:"display,omitempty"`
}

// forkWorker is a sandboxed zygote.
type forkWorker struct {
	p        *Pool
	sb       sandbox.Worker
	c        conn
	events   chan event
	baseline int64
	limits   sandbox.Limits
	seq      int64
	// tracked: the worker has a cgroup; oomKills is its OOM-kill count
	// after the last execution.
	tracked  bool
	oomKills uint64
	// session: the driver's session child owns the socket and cannot
	// answer a kill request mid-execution; stopping means killing the worker.
	session bool
}

func driverEnv(p *Pool) []string {
	sb := p.cfg.Sandbox
	env := append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"RETOOL_EXEC_UID=" + strconv.Itoa(sb.ExecUID()),
	}, p.cfg.Driver.Env...)
	if sb.Isolated() {
		env = append(env, "RETOOL_ISOLATED=1")
	}
	return env
}

func (p *Pool) spec(extra []*os.File) sandbox.Spec {
	d := p.cfg.Driver
	return sandbox.Spec{
		Name:          p.cfg.Name,
		Path:          d.Path,
		Args:          d.Args,
		Env:           driverEnv(p),
		Files:         d.Files,
		ReadOnlyPaths: d.ReadOnlyPaths,
		WorkDirBytes:  p.cfg.WorkDirBytes,
		AllowNetwork:  p.cfg.AllowNetwork,
		// Imports may need more than one execution: start roomy, then
		// tighten to baseline + the execution's limit.
		Limits:     sandboxLimits(p.cfg.Defaults, 1<<30, 4),
		ExtraFiles: extra,
		UID:        -1,
		Stderr:     os.Stderr,
	}
}

func startFork(ctx context.Context, p *Pool) (*forkWorker, error) {
	host, drv, err := socketPair()
	if err != nil {
		return nil, err
	}
	sb, err := p.cfg.Sandbox.Start(ctx, p.spec([]*os.File{drv}))
	drv.Close()
	if err != nil {
		host.c.Close()
		return nil, err
	}
	w := &forkWorker{p: p, sb: sb, c: host, events: make(chan event, 4)}
	go w.readEvents()
	timer := time.NewTimer(p.cfg.Driver.StartTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-w.events:
		if !ok || ev.Ev != "ready" {
			w.close()
			return nil, fmt.Errorf("%s driver exited during start (status %d); see its stderr above", p.cfg.Name, w.exitStatus())
		}
	case <-timer.C:
		w.close()
		return nil, fmt.Errorf("%s driver not ready after %s", p.cfg.Name, p.cfg.Driver.StartTimeout)
	case <-ctx.Done():
		w.close()
		return nil, ctx.Err()
	}
	if u, err := sb.Usage(); err == nil {
		w.baseline, w.tracked, w.oomKills = u.PeakMemory, u.CgroupTracked, u.OOMKills
	}
	return w, nil
}

func (w *forkWorker) exitStatus() int {
	select {
	case <-w.sb.Done():
	case <-time.After(time.Second):
	}
	return w.sb.ExitStatus()
}

func (w *forkWorker) readEvents() {
	defer close(w.events)
	r := bufio.NewReader(w.c.c)
	for {
		var ev event
		if err := recv(r, &ev); err != nil {
			return
		}
		w.events <- ev
	}
}

func (w *forkWorker) close() {
	w.c.c.Close()
	_ = w.sb.Close()
}

// execRLimits are the kernel's per-process fences inside the child; the
// cgroup is the main one where the host has it.
func execRLimits(lim execution.Limits, cgroups bool) rlimits {
	r := rlimits{
		CPU:    int64(math.Ceil(lim.CPUTime.Seconds())),
		FSize:  lim.FileSizeBytes,
		NoFile: lim.OpenFiles,
		NProc:  lim.Pids,
	}
	if !cgroups {
		r.AS = lim.MemoryBytes + 256<<20 // address space exceeds resident memory
	}
	return r
}

func (w *forkWorker) exec(ctx context.Context, req *execution.Request, lim execution.Limits) (execution.Result, bool) {
	w.seq++
	want := sandboxLimits(lim, w.baseline, 4)
	if want != w.limits {
		if err := w.sb.SetLimits(want); err != nil {
			return sandboxError("set limits: %v", err), false
		}
		w.limits = want
	}
	io, err := newStdio(len(req.Stdin) > 0)
	if err != nil {
		return sandboxError("pipes: %v", err), true
	}
	msg := execMsg{Op: "exec", ID: w.seq, Code: req.Code, Fetch: req.FetchFiles,
		RLimits: execRLimits(lim, w.tracked), Display: req.DisplayLast && w.session}
	for _, f := range req.Files {
		msg.Files = append(msg.Files, wireFile{Path: f.Path, Data: base64.StdEncoding.EncodeToString(f.Content)})
	}
	start := time.Now()
	err = w.c.send(msg, io.inR, io.outW, io.errW)
	io.closeChildEnds()
	if err != nil {
		io.closeAll()
		return sandboxError("send to driver: %v", err), false
	}
	cap := newCapture(lim.OutputBytes)
	cap.start(io.outR, io.errR)
	feed(io.inW, req.Stdin)
	stop := func() { _ = w.c.send(execMsg{Op: "kill", ID: w.seq}) }
	if w.session {
		stop = func() { _ = w.sb.Close() }
	}
	demotion := w.demoteAfter(w.p.cfg.DemoteAfter)
	halt := func() { demotion.restore(); stop() }
	ev, k, ok := w.await(ctx, lim, cap, halt)
	wall := time.Since(start)
	demotion.end()
	drained := waitCapture(cap, io)
	res := execution.Result{WallTime: wall}
	res.Stdout, res.Stderr, res.StdoutTruncated, res.StderrTruncated = cap.result()
	if (res.StdoutTruncated || res.StderrTruncated) && k.reason == killNone {
		// The code may exit before the overflow is noticed: what was cut
		// decides the status, not which event came first.
		k = kill{reason: killOutput}
	}
	if !ok {
		res.Status = execution.SandboxError
		res.Message = k.message("worker died during the execution")
		if k.reason == killTimeout {
			res.Status = execution.Timeout
		}
		return res, false
	}
	if ev.Error != "" {
		res.Status, res.Message = execution.SandboxError, ev.Error
		return res, false
	}
	res.ExitCode, res.Signal = ev.Code, ev.Signal
	// The child's rusage covers every descendant it waited for; what it
	// did not wait for was killed at the end and is bounded by the cgroup.
	res.CPUTime = time.Duration(ev.UtimeUs+ev.StimeUs) * time.Microsecond
	res.PeakMemory = ev.MaxrssKB << 10
	if ev.Display != nil {
		res.Display = *ev.Display
	}
	// Any process of the execution may have been the OOM victim, not only
	// the one whose status we have: read the counter every time.
	oom := false
	if n, err := w.sb.OOMKills(); err == nil {
		oom = n > w.oomKills
		w.oomKills = n
	}
	for _, f := range ev.Files {
		data, err := base64.StdEncoding.DecodeString(f.Data)
		if err == nil {
			res.Files = append(res.Files, execution.File{Path: f.Path, Content: data})
		}
	}
	classify(&res, k, lim, oom)
	if len(ev.Errors) > 0 {
		res.Message = strings.TrimSpace(res.Message + "; " + strings.Join(ev.Errors, "; "))
		res.Message = strings.TrimPrefix(res.Message, "; ")
	}
	if !drained {
		res.Message = strings.TrimPrefix(res.Message+"; output pipes held open after exit", "; ")
	}
	return res, true
}

// demotion lowers the worker's CPU weight once an execution has run for
// a while (see sharesDemoted). The weight comes back when the execution
// is killed, so that its processes die and the worker cleans up at full
// weight; otherwise the next execution's limits restore it.
type demotion struct {
	w        *forkWorker
	t        *time.Timer
	mu       sync.Mutex
	finished bool
}

// demoteAfter starts the watch; d < 0 or a worker without a cgroup: none.
func (w *forkWorker) demoteAfter(d time.Duration) *demotion {
	m := &demotion{w: w}
	if d >= 0 && w.tracked {
		m.t = time.AfterFunc(d, func() { m.set(sharesDemoted, false) })
	}
	return m
}

// set gives the worker shares unless the watch is over; final ends the
// watch in the same step, so that a demotion already under way cannot
// land after it.
func (m *demotion) set(shares uint64, final bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	m.finished = final
	w := m.w
	// A closing pool is removing the cgroups: nothing to set, no warning.
	if w.limits.CPUShares == shares || w.p.ctx.Err() != nil {
		return
	}
	l := w.limits
	l.CPUShares = shares
	if err := w.sb.SetLimits(l); err != nil {
		w.p.log.Warn("set the CPU weight of an execution", "runtime", w.p.cfg.Name, "shares", shares, "error", err)
		return
	}
	w.limits = l
}

// restore puts the weight back now (the execution is being killed).
func (m *demotion) restore() {
	if m.t != nil {
		m.t.Stop()
		m.set(sharesNormal, true)
	}
}

// end stops the watch once the execution is over.
func (m *demotion) end() {
	if m.t != nil {
		m.t.Stop()
	}
	m.mu.Lock()
	m.finished = true
	m.mu.Unlock()
}

type killReason int

const (
	killNone killReason = iota
	killTimeout
	killOutput
	killCancelled
)

type kill struct {
	reason killReason
	after  time.Duration
}

func (k kill) message(fallback string) string {
	switch k.reason {
	case killTimeout:
		return fmt.Sprintf("wall time limit %s exceeded", k.after)
	case killOutput:
		return "output limit exceeded; output before the limit is kept"
	case killCancelled:
		return "cancelled by the caller"
	}
	return fallback
}

// await waits for the driver's exit event while enforcing the wall time,
// the output cap and cancellation by calling stop.
func (w *forkWorker) await(ctx context.Context, lim execution.Limits, cap *capture, stop func()) (event, kill, bool) {
	timer := time.NewTimer(lim.WallTime)
	defer timer.Stop()
	var k kill
	var grace <-chan time.Time
	over, done := cap.over, ctx.Done()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return event{}, k, false
			}
			if ev.Ev == "exit" && ev.ID == w.seq {
				return ev, k, true
			}
		case <-timer.C:
			k = kill{killTimeout, lim.WallTime}
			stop()
			grace = time.After(2 * time.Second)
		case <-over:
			over = nil
			if k.reason == killNone {
				k = kill{reason: killOutput}
			}
			stop()
			grace = time.After(2 * time.Second)
		case <-done:
			done = nil
			if k.reason == killNone {
				k = kill{reason: killCancelled}
			}
			stop()
			grace = time.After(2 * time.Second)
		case <-grace:
			// The driver did not confirm the kill: the worker is wedged.
			return event{}, k, false
		}
	}
}

// waitCapture gives the readers a moment to reach EOF; pipes still open
// then belong to a process that escaped, so they are cut.
func waitCapture(cap *capture, io *stdio) bool {
	ch := make(chan struct{})
	go func() { cap.wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(time.Second):
		io.outR.Close()
		io.errR.Close()
		<-ch
		return false
	}
}

// classify maps what happened onto a status.
func classify(res *execution.Result, k kill, lim execution.Limits, oom bool) {
	sig := syscall.Signal(res.Signal)
	switch {
	case k.reason == killTimeout:
		res.Status, res.Message = execution.Timeout, k.message("")
	case k.reason == killOutput:
		res.Status, res.Message = execution.OutputLimit, k.message("")
	case k.reason == killCancelled:
		res.Status, res.Message = execution.SandboxError, k.message("")
	case oom:
		res.Status = execution.Memory
		res.Message = fmt.Sprintf("memory limit %d MiB exceeded", lim.MemoryBytes>>20)
	case sig == syscall.SIGXCPU || (sig == syscall.SIGKILL && res.CPUTime >= lim.CPUTime):
		res.Status = execution.Timeout
		res.Message = fmt.Sprintf("CPU time limit %s exceeded", lim.CPUTime)
	case sig == syscall.SIGXFSZ:
		res.Status = execution.Failed
		res.Message = fmt.Sprintf("file size limit %d bytes exceeded", lim.FileSizeBytes)
	case res.Signal != 0:
		res.Status = execution.Failed
		res.Message = "killed by signal " + sig.String()
	case res.ExitCode != 0:
		res.Status = execution.Failed
		res.Message = fmt.Sprintf("exit code %d", res.ExitCode)
	default:
		res.Status = execution.Finished
	}
}

func sandboxError(format string, args ...any) execution.Result {
	return execution.Result{Status: execution.SandboxError, Message: fmt.Sprintf(format, args...)}
}

// ErrNotForkServer is returned when sessions are asked of a one-shot runtime.
var ErrNotForkServer = errors.New("sessions need a fork-server runtime")
