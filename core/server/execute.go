package server

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
)

// errQueueFull and errUnknownLanguage are refusals decided here.
var (
	errQueueFull       = errors.New("queue full")
	errUnknownLanguage = errors.New("unknown language")
)

func (s *Server) runtimeFor(lang string) (string, error) {
	langs, err := s.exec.Languages()
	if err != nil {
		return "", err
	}
	rt, ok := langs[lang]
	if !ok {
		known := make([]string, 0, len(langs))
		for l := range langs {
			known = append(known, l)
		}
		sort.Strings(known)
		return "", &refusal{err: errUnknownLanguage, msg: "unknown language " + quote(lang) + "; this server runs: " + strings.Join(known, ", ")}
	}
	return rt, nil
}

// refusal is an error with the words the client sees.
type refusal struct {
	err error
	msg string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.err }

func quote(s string) string { return "\"" + s + "\"" }

// run admits and executes one request, recording metrics.
func (s *Server) run(ctx context.Context, req *execution.Request) (execution.Result, error) {
	if err := req.Validate(); err != nil {
		return execution.Result{}, err
	}
	rt, err := s.runtimeFor(req.Language)
	if err != nil {
		return execution.Result{}, err
	}
	release, ok := s.gates.enter(rt)
	if !ok {
		s.metrics.rejected.WithLabelValues(rt, "queue_full").Inc()
		return execution.Result{}, &refusal{err: errQueueFull, msg: rt}
	}
	defer release()
	// The request's own deadline, end to end: queueing included, the
	// server gives up when a client following SandboxFusion's convention
	// (run + compile timeout + 10 s) has given up too.
	ctx, cancel := context.WithTimeout(ctx, requestDeadline(req.Limits.WallTime))
	defer cancel()
	start := time.Now()
	res, err := s.exec.Execute(ctx, req)
	s.metrics.observe(rt, res, err, time.Since(start))
	return res, err
}

// requestDeadline is how long a request may take in all.
func requestDeadline(wall time.Duration) time.Duration {
	if wall <= 0 {
		wall = execution.DefaultLimits.WallTime
	}
	return wall + defaultCompileSlack
}

// defaultCompileSlack is SandboxFusion's compile timeout plus verl's API
// slack: what a client waits beyond the run timeout.
const defaultCompileSlack = 20 * time.Second

// httpStatus maps an error from run onto the HTTP status to answer.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, errQueueFull):
		return http.StatusTooManyRequests
	case errors.Is(err, execution.ErrInvalid), errors.Is(err, errUnknownLanguage):
		return http.StatusBadRequest
	case errors.Is(err, sdk.ErrUnknownSession):
		return http.StatusNotFound
	case errors.Is(err, sdk.ErrSessionsNotSupported):
		return http.StatusNotImplemented
	case errors.Is(err, context.Canceled):
		return 499 // the client went away; nobody reads this
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusServiceUnavailable
}

// writeRunError answers a failed run in retool's own API.
func writeRunError(w http.ResponseWriter, err error) {
	code := httpStatus(err)
	if code == http.StatusTooManyRequests {
		var r *refusal
		errors.As(err, &r)
		writeQueueFull(w, r.msg)
		return
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, code, "%s", oneLine(err.Error()))
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
