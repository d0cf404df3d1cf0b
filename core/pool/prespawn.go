package pool

import (
	"context"
	"os"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/sandbox"
)

// prespawnWorker is one interpreter started ahead of time, waiting for its
// code on fd 3. It serves exactly one execution: a fresh process per
// execution without paying the start-up on the request path.
type prespawnWorker struct {
	p     *Pool
	sb    sandbox.Worker
	io    *stdio
	codeW *os.File
}

func startPrespawn(ctx context.Context, p *Pool) (*prespawnWorker, error) {
	io, err := newStdio(true) // started before its request: stdin unknown
	if err != nil {
		return nil, err
	}
	codeR, codeW, err := os.Pipe()
	if err != nil {
		io.closeAll()
		return nil, err
	}
	spec := p.spec([]*os.File{io.inR, io.outW, io.errW, codeR})
	spec.StdioFromExtra = true
	spec.UID = p.cfg.Sandbox.ExecUID()
	spec.Limits = sandboxLimits(p.cfg.Defaults, 256<<20, 2)
	sb, err := p.cfg.Sandbox.Start(ctx, spec)
	io.closeChildEnds()
	codeR.Close()
	if err != nil {
		io.closeAll()
		codeW.Close()
		return nil, err
	}
	return &prespawnWorker{p: p, sb: sb, io: io, codeW: codeW}, nil
}

func (w *prespawnWorker) close() {
	_ = w.sb.Close()
	w.codeW.Close()
	w.io.inW.Close()
}

func (w *prespawnWorker) exec(ctx context.Context, req *execution.Request, lim execution.Limits) (execution.Result, bool) {
	if len(req.Files) > 0 || len(req.FetchFiles) > 0 {
		// One-shot drivers have no file protocol; say so rather than drop them.
		return sandboxError("this runtime does not support files or fetch_files"), false
	}
	select {
	case <-w.sb.Done():
		return sandboxError("%s interpreter exited before it got code (status %d)", w.p.cfg.Name, w.sb.ExitStatus()), false
	default:
	}
	u, _ := w.sb.Usage()
	if err := w.sb.SetLimits(sandboxLimits(lim, u.PeakMemory, 2)); err != nil {
		return sandboxError("set limits: %v", err), false
	}
	before, _ := w.sb.Usage()
	cap := newCapture(lim.OutputBytes)
	cap.start(w.io.outR, w.io.errR)
	start := time.Now()
	go func() {
		_, _ = w.codeW.Write([]byte(req.Code))
		w.codeW.Close()
	}()
	feed(w.io.inW, req.Stdin)
	timer := time.NewTimer(lim.WallTime)
	defer timer.Stop()
	var k kill
	select {
	case <-w.sb.Done():
	case <-timer.C:
		k = kill{killTimeout, lim.WallTime}
	case <-cap.over:
		k = kill{reason: killOutput}
	case <-ctx.Done():
		k = kill{reason: killCancelled}
	}
	wall := time.Since(start)
	after, _ := w.sb.Usage()
	if k.reason != killNone {
		_ = w.sb.Close()
	}
	<-w.sb.Done()
	waitCapture(cap, w.io)
	res := execution.Result{WallTime: wall}
	res.Stdout, res.Stderr, res.StdoutTruncated, res.StderrTruncated = cap.result()
	if (res.StdoutTruncated || res.StderrTruncated) && k.reason == killNone {
		// The code may exit before the overflow is noticed: what was cut
		// decides the status, not which event came first.
		k = kill{reason: killOutput}
	}
	res.CPUTime = after.CPUTime - before.CPUTime
	res.PeakMemory = after.PeakMemory
	if status := w.sb.ExitStatus(); status >= 128 {
		res.Signal = status - 128
	} else {
		res.ExitCode = status
	}
	classify(&res, k, lim, after.OOMKills > before.OOMKills)
	return res, false
}
