package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
)

// retool's own API: the full result of the runtime protocol.

type limitsJSON struct {
	WallTimeMs    int64 `json:"wall_time_ms,omitempty"`
	CPUTimeMs     int64 `json:"cpu_time_ms,omitempty"`
	MemoryMB      int64 `json:"memory_mb,omitempty"`
	Pids          int   `json:"pids,omitempty"`
	OutputBytes   int64 `json:"output_bytes,omitempty"`
	FileSizeBytes int64 `json:"file_size_bytes,omitempty"`
	OpenFiles     int   `json:"open_files,omitempty"`
}

func (l limitsJSON) limits() execution.Limits {
	return execution.Limits{
		WallTime: time.Duration(l.WallTimeMs) * time.Millisecond, CPUTime: time.Duration(l.CPUTimeMs) * time.Millisecond,
		MemoryBytes: l.MemoryMB << 20, Pids: l.Pids, OutputBytes: l.OutputBytes,
		FileSizeBytes: l.FileSizeBytes, OpenFiles: l.OpenFiles,
	}
}

type executeRequest struct {
	Language   string             `json:"language"`
	Code       string             `json:"code"`
	Stdin      string             `json:"stdin"`
	Files      map[string]*string `json:"files"`
	FetchFiles []string           `json:"fetch_files"`
	Limits     limitsJSON         `json:"limits"`
}

func (b *executeRequest) request() (*execution.Request, error) {
	files, err := decodeFiles(b.Files)
	if err != nil {
		return nil, err
	}
	return &execution.Request{Language: b.Language, Code: b.Code, Stdin: []byte(b.Stdin), Files: files,
		FetchFiles: b.FetchFiles, Limits: b.Limits.limits()}, nil
}

type executeResponse struct {
	Status          string            `json:"status"`
	Message         string            `json:"message,omitempty"`
	ExitCode        int               `json:"exit_code"`
	Signal          int               `json:"signal"`
	Stdout          string            `json:"stdout"`
	Stderr          string            `json:"stderr"`
	StdoutBase64    string            `json:"stdout_base64,omitempty"`
	StderrBase64    string            `json:"stderr_base64,omitempty"`
	StdoutTruncated bool              `json:"stdout_truncated"`
	StderrTruncated bool              `json:"stderr_truncated"`
	WallTimeMs      float64           `json:"wall_time_ms"`
	CPUTimeMs       float64           `json:"cpu_time_ms"`
	PeakMemoryBytes int64             `json:"peak_memory_bytes"`
	Files           map[string]string `json:"files"`
	Degraded        []string          `json:"degraded,omitempty"`
	Error           string            `json:"error,omitempty"`
}

// response carries output that is not UTF-8 in base64 beside the text, so
// that binary output survives JSON byte for byte.
func response(res execution.Result) executeResponse {
	r := executeResponse{
		Status: res.Status.String(), Message: res.Message, ExitCode: res.ExitCode, Signal: res.Signal,
		Stdout: string(res.Stdout), Stderr: string(res.Stderr),
		StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated,
		WallTimeMs:      float64(res.WallTime.Microseconds()) / 1000,
		CPUTimeMs:       float64(res.CPUTime.Microseconds()) / 1000,
		PeakMemoryBytes: res.PeakMemory, Files: encodeFiles(res.Files), Degraded: res.Degraded,
	}
	if !utf8.Valid(res.Stdout) {
		r.StdoutBase64 = base64.StdEncoding.EncodeToString(res.Stdout)
	}
	if !utf8.Valid(res.Stderr) {
		r.StderrBase64 = base64.StdEncoding.EncodeToString(res.Stderr)
	}
	return r
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request) {
	var body executeRequest
	if !decode(w, r, &body) {
		return
	}
	req, err := body.request()
	if err != nil {
		writeRunError(w, err)
		return
	}
	res, err := s.run(r.Context(), req)
	if err != nil {
		writeRunError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, response(res))
}

// maxBatch bounds one batch; batchParallel how many of it run at once
// (the gates still bound each runtime).
const (
	maxBatch      = 1024
	batchParallel = 64
)

type batchRequest struct {
	Requests []executeRequest `json:"requests"`
}

type batchResponse struct {
	Results []executeResponse `json:"results"`
}

// batch runs many executions in one request; each result stands in the
// position of its request, a refused one with its error.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	var body batchRequest
	if !decode(w, r, &body) {
		return
	}
	if len(body.Requests) == 0 || len(body.Requests) > maxBatch {
		writeError(w, http.StatusBadRequest, "a batch holds 1 to %d requests, got %d", maxBatch, len(body.Requests))
		return
	}
	out := make([]executeResponse, len(body.Requests))
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for i := range body.Requests {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			req, err := body.Requests[i].request()
			if err == nil {
				var res execution.Result
				if res, err = s.run(r.Context(), req); err == nil {
					out[i] = response(res)
					return
				}
			}
			out[i] = executeResponse{Status: "refused", Error: oneLine(err.Error()), Files: map[string]string{}}
		}(i)
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, batchResponse{Results: out})
}

type openSessionRequest struct {
	Language string     `json:"language"`
	Limits   limitsJSON `json:"limits"`
}

func (s *Server) openSession(w http.ResponseWriter, r *http.Request) {
	var body openSessionRequest
	if !decode(w, r, &body) {
		return
	}
	if _, err := s.runtimeFor(body.Language); err != nil {
		writeRunError(w, err)
		return
	}
	lim := body.Limits.limits()
	if err := lim.Validate(); err != nil {
		writeRunError(w, fmt.Errorf("%w: %v", execution.ErrInvalid, err))
		return
	}
	id, err := s.sessions.open(r.Context(), body.Language, lim)
	if err != nil {
		writeRunError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (s *Server) executeInSession(w http.ResponseWriter, r *http.Request) {
	var body executeRequest
	if !decode(w, r, &body) {
		return
	}
	req, err := body.request()
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		writeRunError(w, err)
		return
	}
	start := time.Now()
	res, rt, err := s.sessions.execute(r.Context(), r.PathValue("id"), req)
	s.metrics.observe(rt, res, err, time.Since(start))
	if err != nil {
		writeRunError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, response(res))
}

func (s *Server) closeSession(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.close1(r.Context(), r.PathValue("id")); err != nil {
		writeRunError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessions tracks open sessions and closes idle ones.
type sessions struct {
	exec Executor
	idle time.Duration
	log  interface {
		Info(string, ...any)
	}
	mu     sync.Mutex
	byID   map[string]*sessionEntry
	stop   chan struct{}
	closed sync.Once
}

type sessionEntry struct {
	mu       sync.Mutex // one execution at a time per session
	lastUsed time.Time
	runtime  string
}

func newSessions(exec Executor, idle time.Duration, log interface{ Info(string, ...any) }) *sessions {
	s := &sessions{exec: exec, idle: idle, log: log, byID: map[string]*sessionEntry{}, stop: make(chan struct{})}
	go s.reap()
	return s
}

func (s *sessions) open(ctx context.Context, lang string, lim execution.Limits) (string, error) {
	id, err := s.exec.OpenSession(ctx, lang, lim)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.byID[id] = &sessionEntry{lastUsed: time.Now(), runtime: runtimeOf(id)}
	s.mu.Unlock()
	return id, nil
}

func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *sessions) execute(ctx context.Context, id string, req *execution.Request) (execution.Result, string, error) {
	s.mu.Lock()
	e, ok := s.byID[id]
	s.mu.Unlock()
	if !ok {
		return execution.Result{}, "", fmt.Errorf("%w: no open session %q", sdk.ErrUnknownSession, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastUsed = time.Now()
	res, err := s.exec.ExecuteInSession(ctx, id, req)
	e.lastUsed = time.Now()
	return res, e.runtime, err
}

func (s *sessions) close1(ctx context.Context, id string) error {
	s.mu.Lock()
	_, ok := s.byID[id]
	delete(s.byID, id)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: no open session %q", sdk.ErrUnknownSession, id)
	}
	return s.exec.CloseSession(ctx, id)
}

// reap closes sessions idle for longer than the limit.
func (s *sessions) reap() {
	t := time.NewTicker(min(s.idle/4, 10*time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		var expired []string
		s.mu.Lock()
		for id, e := range s.byID {
			if e.mu.TryLock() {
				if time.Since(e.lastUsed) > s.idle {
					expired = append(expired, id)
					delete(s.byID, id)
				}
				e.mu.Unlock()
			}
		}
		s.mu.Unlock()
		for _, id := range expired {
			_ = s.exec.CloseSession(context.Background(), id)
			s.log.Info("closed idle session", "session", id, "idle_limit", s.idle)
		}
	}
}

func (s *sessions) close() {
	s.closed.Do(func() {
		close(s.stop)
		s.mu.Lock()
		ids := make([]string, 0, len(s.byID))
		for id := range s.byID {
			ids = append(ids, id)
		}
		s.byID = map[string]*sessionEntry{}
		s.mu.Unlock()
		for _, id := range ids {
			_ = s.exec.CloseSession(context.Background(), id)
		}
	})
}

// runtimeOf reads the runtime from a session id ("python:abc…").
func runtimeOf(id string) string {
	rt, _, _ := strings.Cut(id, ":")
	return rt
}
