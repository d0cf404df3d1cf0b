package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/retool-rl/retool/core/execution"
)

// SandboxFusion's wire types, field for field (sandbox/server/sandbox_api.py
// and sandbox/runners/types.py of bytedance/SandboxFusion).

type runCodeRequest struct {
	Code           *string            `json:"code"`
	Language       string             `json:"language"`
	CompileTimeout *float64           `json:"compile_timeout"`
	RunTimeout     *float64           `json:"run_timeout"`
	MemoryLimitMB  *int64             `json:"memory_limit_MB"`
	Stdin          *string            `json:"stdin"`
	Files          map[string]*string `json:"files"`
	FetchFiles     []string           `json:"fetch_files"`
}

type commandRunResult struct {
	Status        string   `json:"status"` // Finished | Error | TimeLimitExceeded
	ExecutionTime *float64 `json:"execution_time"`
	ReturnCode    *int     `json:"return_code"`
	Stdout        *string  `json:"stdout"`
	Stderr        *string  `json:"stderr"`
}

type runCodeResponse struct {
	Status          string            `json:"status"` // Success | Failed | SandboxError
	Message         string            `json:"message"`
	CompileResult   *commandRunResult `json:"compile_result"`
	RunResult       *commandRunResult `json:"run_result"`
	ExecutorPodName *string           `json:"executor_pod_name"`
	Files           map[string]string `json:"files"`
}

type runJupyterRequest struct {
	Cells        []string           `json:"cells"`
	CellTimeout  *float64           `json:"cell_timeout"`
	TotalTimeout *float64           `json:"total_timeout"`
	Kernel       string             `json:"kernel"`
	Files        map[string]*string `json:"files"`
	FetchFiles   []string           `json:"fetch_files"`
}

type cellRunResult struct {
	Stdout  string           `json:"stdout"`
	Stderr  string           `json:"stderr"`
	Display []map[string]any `json:"display"`
	Error   []map[string]any `json:"error"`
}

type runJupyterResponse struct {
	Status          string            `json:"status"`
	Message         string            `json:"message"`
	Driver          *commandRunResult `json:"driver"`
	Cells           []cellRunResult   `json:"cells"`
	ExecutorPodName *string           `json:"executor_pod_name"`
	Files           map[string]string `json:"files"`
}

// SandboxFusion's defaults.
const (
	defaultRunTimeout   = 10.0
	defaultTotalTimeout = 45.0
)

// seconds validates an optional timeout in seconds.
func seconds(name string, v *float64, def float64) (time.Duration, error) {
	if v == nil {
		return time.Duration(def * float64(time.Second)), nil
	}
	if *v <= 0 || *v != *v {
		return 0, fmt.Errorf("%w: %s must be a positive number of seconds, got %v", execution.ErrInvalid, name, *v)
	}
	if *v > execution.MaxWallTime.Seconds() {
		return 0, fmt.Errorf("%w: %s %v exceeds the maximum %v", execution.ErrInvalid, name, *v, execution.MaxWallTime.Seconds())
	}
	return time.Duration(*v * float64(time.Second)), nil
}

func decodeFiles(files map[string]*string) ([]execution.File, error) {
	out := make([]execution.File, 0, len(files))
	for p, b64 := range files {
		f := execution.File{Path: p}
		if b64 != nil {
			data, err := base64.StdEncoding.DecodeString(*b64)
			if err != nil {
				return nil, fmt.Errorf("%w: files[%q] is not valid base64: %v", execution.ErrInvalid, p, err)
			}
			f.Content = data
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func encodeFiles(files []execution.File) map[string]string {
	out := make(map[string]string, len(files))
	for _, f := range files {
		out[f.Path] = base64.StdEncoding.EncodeToString(f.Content)
	}
	return out
}

// fusionRequest turns a /run_code body into an execution request.
func fusionRequest(b *runCodeRequest) (*execution.Request, error) {
	if b.Code == nil {
		return nil, fmt.Errorf("%w: field \"code\" is required", execution.ErrInvalid)
	}
	if b.Language == "" {
		return nil, fmt.Errorf("%w: field \"language\" is required", execution.ErrInvalid)
	}
	if _, err := seconds("compile_timeout", b.CompileTimeout, defaultRunTimeout); err != nil {
		return nil, err
	}
	wall, err := seconds("run_timeout", b.RunTimeout, defaultRunTimeout)
	if err != nil {
		return nil, err
	}
	req := &execution.Request{Language: b.Language, Code: *b.Code, FetchFiles: b.FetchFiles,
		Limits: execution.Limits{WallTime: wall}}
	if b.MemoryLimitMB != nil && *b.MemoryLimitMB != -1 {
		if *b.MemoryLimitMB <= 0 {
			return nil, fmt.Errorf("%w: memory_limit_MB must be positive or -1, got %d", execution.ErrInvalid, *b.MemoryLimitMB)
		}
		req.Limits.MemoryBytes = *b.MemoryLimitMB << 20
	}
	if b.Stdin != nil {
		req.Stdin = []byte(*b.Stdin)
	}
	if req.Files, err = decodeFiles(b.Files); err != nil {
		return nil, err
	}
	return req, nil
}

// fusionResult maps a result onto SandboxFusion's: a non-zero exit or a
// timeout is Failed, a failure of the sandbox itself SandboxError (its
// command status Error). Output produced before a timeout is returned.
func fusionResult(res execution.Result) (status string, run *commandRunResult, message string) {
	secs := res.WallTime.Seconds()
	stdout, stderr := string(res.Stdout), string(res.Stderr)
	run = &commandRunResult{Status: "Finished", ExecutionTime: &secs, Stdout: &stdout, Stderr: &stderr}
	code := res.ExitCode
	if res.Signal != 0 {
		code = -res.Signal // as Python's subprocess reports a signal
	}
	switch res.Status {
	case execution.Finished:
		run.ReturnCode = &code
		return "Success", run, ""
	case execution.Timeout:
		run.Status = "TimeLimitExceeded"
		return "Failed", run, res.Message
	case execution.SandboxError:
		run.Status = "Error"
		return "SandboxError", run, res.Message
	}
	run.ReturnCode = &code // failed, memory, output limit
	return "Failed", run, res.Message
}

func (s *Server) podName() *string {
	if s.cfg.PodName == "" {
		return nil
	}
	return &s.cfg.PodName
}

func (s *Server) runCode(w http.ResponseWriter, r *http.Request) {
	var body runCodeRequest
	if !decode(w, r, &body) {
		return
	}
	req, err := fusionRequest(&body)
	if err != nil {
		writeRunError(w, err)
		return
	}
	res, err := s.run(r.Context(), req)
	if err != nil {
		code := httpStatus(err)
		if code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			writeRunError(w, err) // the request is at fault, or the queue is full
			return
		}
		// SandboxFusion answers its own failures with 200 and SandboxError.
		writeJSON(w, http.StatusOK, runCodeResponse{Status: "SandboxError", Message: oneLine(err.Error()),
			ExecutorPodName: s.podName(), Files: map[string]string{}})
		return
	}
	status, run, msg := fusionResult(res)
	writeJSON(w, http.StatusOK, runCodeResponse{Status: status, Message: msg, RunResult: run,
		ExecutorPodName: s.podName(), Files: encodeFiles(res.Files)})
}

// runJupyter runs the cells one after another in one fresh session, the
// way SandboxFusion runs them in one fresh kernel. A cell's error is
// recorded and the next cell still runs; a timeout ends the run.
func (s *Server) runJupyter(w http.ResponseWriter, r *http.Request) {
	var body runJupyterRequest
	if !decode(w, r, &body) {
		return
	}
	resp, err := s.jupyter(r.Context(), &body)
	if err != nil {
		writeRunError(w, err)
		return
	}
	resp.ExecutorPodName = s.podName()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) jupyter(ctx context.Context, body *runJupyterRequest) (*runJupyterResponse, error) {
	if body.Cells == nil {
		return nil, fmt.Errorf("%w: field \"cells\" is required", execution.ErrInvalid)
	}
	if body.Kernel != "" && body.Kernel != "python3" {
		return nil, fmt.Errorf("%w: kernel %q is not available; python3 is", execution.ErrInvalid, body.Kernel)
	}
	total, err := seconds("total_timeout", body.TotalTimeout, defaultTotalTimeout)
	if err != nil {
		return nil, err
	}
	var perCell time.Duration
	if body.CellTimeout != nil && *body.CellTimeout != 0 {
		if perCell, err = seconds("cell_timeout", body.CellTimeout, 0); err != nil {
			return nil, err
		}
	}
	files, err := decodeFiles(body.Files)
	if err != nil {
		return nil, err
	}
	for _, p := range body.FetchFiles {
		if err := execution.ValidPath(p); err != nil {
			return nil, fmt.Errorf("%w: %v", execution.ErrInvalid, err)
		}
	}
	rt, err := s.runtimeFor("python")
	if err != nil {
		return nil, err
	}
	release, ok := s.gates.enter(rt)
	if !ok {
		return nil, &refusal{err: errQueueFull, msg: rt}
	}
	defer release()
	id, err := s.exec.OpenSession(ctx, "python", execution.Limits{})
	if err != nil {
		return nil, err
	}
	defer s.exec.CloseSession(context.WithoutCancel(ctx), id)

	start := time.Now()
	resp := &runJupyterResponse{Status: "Success", Cells: []cellRunResult{}, Files: map[string]string{}}
	for i, cell := range body.Cells {
		left := total - time.Since(start)
		limit := left
		if perCell > 0 && perCell < left {
			limit = perCell
		}
		if limit < time.Millisecond {
			resp.Status, resp.Message = "Failed", fmt.Sprintf("total_timeout %s reached before cell %d", total, i)
			break
		}
		req := &execution.Request{Language: "python", Code: cell, Limits: execution.Limits{WallTime: limit},
			DisplayLast: true}
		if i == 0 {
			req.Files = files
		}
		if i == len(body.Cells)-1 {
			req.FetchFiles = body.FetchFiles
		}
		if strings.TrimSpace(cell) == "" {
			resp.Cells = append(resp.Cells, cellRunResult{Display: []map[string]any{}, Error: []map[string]any{}})
			continue
		}
		cs := time.Now()
		res, err := s.exec.ExecuteInSession(ctx, id, req)
		s.metrics.observe(rt, res, err, time.Since(cs))
		if err != nil {
			return nil, err
		}
		resp.Cells = append(resp.Cells, jupyterCell(res))
		resp.Files = encodeFiles(res.Files)
		if res.Status == execution.Timeout || res.Status == execution.SandboxError || res.Status == execution.OutputLimit {
			resp.Status, resp.Message = "Failed", fmt.Sprintf("cell %d: %s", i, res.Message)
			break
		}
	}
	secs := time.Since(start).Seconds()
	zero := 0
	resp.Driver = &commandRunResult{Status: "Finished", ExecutionTime: &secs, ReturnCode: &zero}
	if resp.Status != "Success" {
		resp.Driver.Status = "TimeLimitExceeded"
	}
	return resp, nil
}

// jupyterCell shapes a result like a notebook cell: an exception becomes
// an error entry {ename, evalue, traceback} taken from the traceback.
func jupyterCell(res execution.Result) cellRunResult {
	c := cellRunResult{Stdout: string(res.Stdout), Stderr: string(res.Stderr),
		Display: []map[string]any{}, Error: []map[string]any{}}
	if res.Display != "" {
		c.Display = append(c.Display, map[string]any{"text/plain": res.Display})
	}
	if res.Status == execution.Failed && res.ExitCode != 0 && strings.TrimSpace(c.Stderr) != "" {
		lines := strings.Split(strings.TrimRight(c.Stderr, "\n"), "\n")
		last := lines[len(lines)-1]
		ename, evalue, _ := strings.Cut(last, ": ")
		c.Error = append(c.Error, map[string]any{"ename": ename, "evalue": evalue, "traceback": lines})
		c.Stderr = ""
	}
	return c
}
