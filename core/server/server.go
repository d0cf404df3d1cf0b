// Package server is retool's HTTP service: SandboxFusion's API
// (/run_code, /run_jupyter, /v1/ping) so that RL trainers that speak it
// work unchanged, retool's own API (/v1/execute, /v1/sessions,
// /v1/batch), admission control, Prometheus metrics and request logs. It
// executes nothing itself: an Executor (the orchestrator) does.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
)

// Executor runs executions; the orchestrator implements it.
type Executor interface {
	Execute(ctx context.Context, req *execution.Request) (execution.Result, error)
	OpenSession(ctx context.Context, lang string, limits execution.Limits) (string, error)
	ExecuteInSession(ctx context.Context, id string, req *execution.Request) (execution.Result, error)
	CloseSession(ctx context.Context, id string) error
	// Languages maps each language to the runtime (plugin) that runs it.
	Languages() (map[string]string, error)
	// Health reports each running runtime's pool.
	Health(ctx context.Context) map[string]sdk.Health
}

// Config configures a Server.
type Config struct {
	Executor Executor
	Logger   hclog.Logger
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every endpoint but /v1/ping.
	Token string
	// MaxQueue bounds the requests in a runtime (running and waiting);
	// past it requests get 429 with Retry-After at once.
	MaxQueue int
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// SessionIdle closes sessions unused for this long.
	SessionIdle time.Duration
	// PodName is reported as executor_pod_name (default: $MY_POD_NAME or
	// the host name, as SandboxFusion does).
	PodName string
	// Registry receives the metrics (default: a new registry).
	Registry *prometheus.Registry
	// Completions, when set, serves /v1/completions and /v1/models (an
	// OpenAI-compatible policy, such as the embedded model), behind the
	// same token.
	Completions http.Handler
}

// Server serves the HTTP API.
type Server struct {
	cfg      Config
	exec     Executor
	log      hclog.Logger
	mux      *http.ServeMux
	metrics  *metrics
	gates    *gates
	sessions *sessions
}

// New builds a server; Close stops its background work.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1024
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 10 * time.Minute
	}
	if cfg.PodName == "" {
		cfg.PodName = os.Getenv("MY_POD_NAME")
	}
	if cfg.PodName == "" {
		cfg.PodName, _ = os.Hostname()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, exec: cfg.Executor, log: cfg.Logger, mux: http.NewServeMux()}
	s.gates = newGates(cfg.MaxQueue)
	s.metrics = newMetrics(cfg.Registry, s)
	s.sessions = newSessions(cfg.Executor, cfg.SessionIdle, cfg.Logger)
	s.routes()
	return s
}

// Close ends the sessions and the idle reaper.
func (s *Server) Close() { s.sessions.close() }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v1/ping", s.ping)
	s.mux.HandleFunc("POST /run_code", s.runCode)
	s.mux.HandleFunc("POST /run_jupyter", s.runJupyter)
	s.mux.HandleFunc("POST /v1/execute", s.execute)
	s.mux.HandleFunc("POST /v1/batch", s.batch)
	s.mux.HandleFunc("POST /v1/sessions", s.openSession)
	s.mux.HandleFunc("POST /v1/sessions/{id}/execute", s.executeInSession)
	s.mux.HandleFunc("DELETE /v1/sessions/{id}", s.closeSession)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	if h := s.cfg.Completions; h != nil {
		s.mux.Handle("/v1/completions", h)
		s.mux.Handle("/v1/models", h)
	}
}

// ServeHTTP adds the request id, authentication, body limit and the
// access log around every handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(withRequestID(r.Context(), id))
	switch {
	case s.cfg.Token != "" && r.URL.Path != "/v1/ping" && !s.authorized(r):
		rec.Header().Set("WWW-Authenticate", "Bearer")
		writeError(rec, http.StatusUnauthorized, "missing or wrong bearer token")
	default:
		r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBodyBytes)
		s.mux.ServeHTTP(rec, r)
	}
	d := time.Since(start)
	switch {
	case rec.status >= 500:
		s.log.Warn("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", d)
	case s.log.IsDebug():
		s.log.Debug("request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", d)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(s.cfg.Token)) == 1
}

func (s *Server) ping(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, "pong")
}

type ctxKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is every 4xx/5xx body: one line a person can act on.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

// decode reads a JSON body. Unknown fields are ignored, as SandboxFusion
// (pydantic) does, so that clients sending newer fields keep working.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", tooBig.Limit)
			return false
		}
		writeError(w, http.StatusBadRequest, "malformed JSON body: %v", err)
		return false
	}
	return true
}

// gates bound the requests per runtime: admission control that answers
// at once instead of letting requests pile up until they time out.
type gates struct {
	mu    sync.Mutex
	limit int
	byRT  map[string]chan struct{}
}

func newGates(limit int) *gates { return &gates{limit: limit, byRT: map[string]chan struct{}{}} }

func (g *gates) get(runtime string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.byRT[runtime]
	if !ok {
		c = make(chan struct{}, g.limit)
		g.byRT[runtime] = c
	}
	return c
}

// enter takes a place or reports the queue full.
func (g *gates) enter(runtime string) (release func(), ok bool) {
	c := g.get(runtime)
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	default:
		return nil, false
	}
}

// depth is the number of requests in each runtime now.
func (g *gates) depth() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.byRT))
	for rt, c := range g.byRT {
		out[rt] = len(c)
	}
	return out
}

// retryAfter is how long a refused client should wait, in seconds.
const retryAfter = 1

func writeQueueFull(w http.ResponseWriter, runtime string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeError(w, http.StatusTooManyRequests, "the %s runtime's queue is full; retry after %ds", runtime, retryAfter)
}
