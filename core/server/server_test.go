package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
)

// fakeExecutor answers from a function and records what it was asked.
type fakeExecutor struct {
	mu       sync.Mutex
	run      func(ctx context.Context, req *execution.Request) (execution.Result, error)
	got      []*execution.Request
	sessions map[string]map[string]string // id → globals (toy state)
	closed   []string
}

func (f *fakeExecutor) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	f.mu.Lock()
	f.got = append(f.got, req)
	f.mu.Unlock()
	return f.run(ctx, req)
}

func (f *fakeExecutor) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func (f *fakeExecutor) OpenSession(_ context.Context, lang string, _ execution.Limits) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions = map[string]map[string]string{}
	}
	id := fmt.Sprintf("python:s%d", len(f.sessions)+1)
	f.sessions[id] = map[string]string{}
	return id, nil
}

// ExecuteInSession understands "k = v" (store) and "k" (display).
func (f *fakeExecutor) ExecuteInSession(_ context.Context, id string, req *execution.Request) (execution.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.sessions[id]
	if !ok {
		return execution.Result{}, sdk.ErrUnknownSession
	}
	if k, v, ok := strings.Cut(req.Code, " = "); ok {
		g[k] = v
		return execution.Result{Status: execution.Finished}, nil
	}
	if strings.HasPrefix(req.Code, "raise") {
		return execution.Result{Status: execution.Failed, ExitCode: 1,
			Stderr: []byte("Traceback (most recent call last):\n  File \"<code>\", line 1\nValueError: bad\n")}, nil
	}
	if req.DisplayLast {
		return execution.Result{Status: execution.Finished, Display: g[req.Code]}, nil
	}
	return execution.Result{Status: execution.Finished, Stdout: []byte(g[req.Code] + "\n")}, nil
}

func (f *fakeExecutor) CloseSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions[id]; !ok {
		return sdk.ErrUnknownSession
	}
	delete(f.sessions, id)
	f.closed = append(f.closed, id)
	return nil
}

func (f *fakeExecutor) Languages() (map[string]string, error) {
	return map[string]string{"python": "python", "python3": "python", "sympy": "sympy"}, nil
}

func (f *fakeExecutor) Health(context.Context) map[string]sdk.Health {
	return map[string]sdk.Health{"python": {Ready: true, WorkersReady: 2, WorkersTotal: 2, Restarts: 1}}
}

func echo(_ context.Context, req *execution.Request) (execution.Result, error) {
	return execution.Result{Status: execution.Finished, Stdout: []byte(req.Code + "\n"), WallTime: 3 * time.Millisecond}, nil
}

func newTestServer(t *testing.T, f *fakeExecutor, tweak func(*Config)) *httptest.Server {
	t.Helper()
	cfg := Config{Executor: f, MaxBodyBytes: 1 << 20, PodName: "test-pod"}
	if tweak != nil {
		tweak(&cfg)
	}
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

func post(t *testing.T, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestRunCodeVerlRequest(t *testing.T) {
	f := &fakeExecutor{run: echo}
	ts := newTestServer(t, f, nil)
	// Exactly what verl sends.
	body := `{"compile_timeout": 10, "run_timeout": 5, "code": "print(1)", "stdin": null,
	          "memory_limit_MB": 1024, "language": "python", "files": {}, "fetch_files": []}`
	resp, b := post(t, ts.URL+"/run_code", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	run := got["run_result"].(map[string]any)
	if got["status"] != "Success" || run["status"] != "Finished" || run["stdout"] != "print(1)\n" ||
		run["return_code"] != 0.0 || got["executor_pod_name"] != "test-pod" || got["compile_result"] != nil {
		t.Fatalf("response %s", b)
	}
	for _, k := range []string{"status", "message", "compile_result", "run_result", "executor_pod_name", "files"} {
		if _, ok := got[k]; !ok {
			t.Errorf("response lacks %q", k)
		}
	}
	req := f.got[0]
	if req.Limits.WallTime != 5*time.Second || req.Limits.MemoryBytes != 1024<<20 || req.Stdin != nil {
		t.Fatalf("request became %+v", req)
	}
}

func TestRunCodeStatusMapping(t *testing.T) {
	cases := map[string]struct {
		res                 execution.Result
		status, runStatus   string
		returnCode          any
		stdout, wantMessage string
	}{
		"finished":      {execution.Result{Status: execution.Finished}, "Success", "Finished", 0.0, "", ""},
		"failed":        {execution.Result{Status: execution.Failed, ExitCode: 3}, "Failed", "Finished", 3.0, "", ""},
		"timeout keeps": {execution.Result{Status: execution.Timeout, Stdout: []byte("partial\n"), Message: "wall time limit 1s exceeded"}, "Failed", "TimeLimitExceeded", nil, "partial\n", "wall time"},
		"memory":        {execution.Result{Status: execution.Memory, Signal: 9, Message: "memory limit 128 MiB exceeded"}, "Failed", "Finished", -9.0, "", "memory limit"},
		"output limit":  {execution.Result{Status: execution.OutputLimit, Signal: 9, Stdout: []byte("xxx")}, "Failed", "Finished", -9.0, "xxx", ""},
		"sandbox error": {execution.Result{Status: execution.SandboxError, Message: "worker died"}, "SandboxError", "Error", nil, "", "worker died"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, &fakeExecutor{run: func(context.Context, *execution.Request) (execution.Result, error) { return c.res, nil }}, nil)
			_, b := post(t, ts.URL+"/run_code", `{"code":"x","language":"python"}`)
			var got runCodeResponse
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			var rc any
			if got.RunResult.ReturnCode != nil {
				rc = float64(*got.RunResult.ReturnCode)
			}
			if got.Status != c.status || got.RunResult.Status != c.runStatus || rc != c.returnCode ||
				*got.RunResult.Stdout != c.stdout || !strings.Contains(got.Message, c.wantMessage) {
				t.Fatalf("got %s", b)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	ts := newTestServer(t, &fakeExecutor{run: echo}, nil)
	big := `{"language":"python","code":"` + strings.Repeat("a", 2<<20) + `"}`
	cases := map[string]struct {
		path, body string
		status     int
		want       string
	}{
		"malformed json":     {"/run_code", `{"code": "x"`, 400, "malformed JSON"},
		"not an object":      {"/run_code", `[1,2]`, 400, "malformed JSON"},
		"missing code":       {"/run_code", `{"language":"python"}`, 400, `"code" is required`},
		"missing language":   {"/run_code", `{"code":"1"}`, 400, `"language" is required`},
		"empty code":         {"/run_code", `{"code":"  ","language":"python"}`, 400, "code is empty"},
		"unknown language":   {"/run_code", `{"code":"1","language":"cobol"}`, 400, `unknown language "cobol"; this server runs: python, python3, sympy`},
		"negative timeout":   {"/run_code", `{"code":"1","language":"python","run_timeout":-1}`, 400, "run_timeout must be a positive"},
		"zero timeout":       {"/run_code", `{"code":"1","language":"python","run_timeout":0}`, 400, "run_timeout must be a positive"},
		"absurd timeout":     {"/run_code", `{"code":"1","language":"python","run_timeout":1e9}`, 400, "exceeds the maximum"},
		"negative compile":   {"/run_code", `{"code":"1","language":"python","compile_timeout":-3}`, 400, "compile_timeout"},
		"bad memory":         {"/run_code", `{"code":"1","language":"python","memory_limit_MB":-5}`, 400, "memory_limit_MB"},
		"invalid base64":     {"/run_code", `{"code":"1","language":"python","files":{"a.txt":"%%%"}}`, 400, "not valid base64"},
		"escaping file":      {"/run_code", `{"code":"1","language":"python","files":{"../x":"YQ=="}}`, 400, "escapes the work dir"},
		"absolute fetch":     {"/run_code", `{"code":"1","language":"python","fetch_files":["/etc/passwd"]}`, 400, "must be relative"},
		"oversized body":     {"/run_code", big, 413, "larger than"},
		"batch empty":        {"/v1/batch", `{"requests":[]}`, 400, "a batch holds"},
		"jupyter no cells":   {"/run_jupyter", `{}`, 400, `"cells" is required`},
		"jupyter bad kernel": {"/run_jupyter", `{"cells":["1"],"kernel":"ir"}`, 400, "kernel"},
		"session bad lang":   {"/v1/sessions", `{"language":"cobol"}`, 400, "unknown language"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, b := post(t, ts.URL+c.path, c.body)
			var e apiError
			json.Unmarshal(b, &e)
			if resp.StatusCode != c.status || !strings.Contains(e.Error, c.want) || bytes.Count(b, []byte("\n")) != 1 {
				t.Fatalf("got %d %s, want %d containing %q on one line", resp.StatusCode, b, c.status, c.want)
			}
		})
	}
	// The server keeps serving.
	if resp, b := post(t, ts.URL+"/run_code", `{"code":"ok","language":"python"}`); resp.StatusCode != 200 {
		t.Fatalf("after bad input: %d %s", resp.StatusCode, b)
	}
}

func TestUnknownFieldsAreIgnored(t *testing.T) {
	ts := newTestServer(t, &fakeExecutor{run: echo}, nil)
	resp, b := post(t, ts.URL+"/run_code", `{"code":"1","language":"python","extra_field":{"a":1},"use_gpu":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestQueueFullAnswersAtOnce(t *testing.T) {
	block := make(chan struct{})
	f := &fakeExecutor{run: func(ctx context.Context, req *execution.Request) (execution.Result, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return execution.Result{Status: execution.Finished}, nil
	}}
	ts := newTestServer(t, f, func(c *Config) { c.MaxQueue = 2 })
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	resp, b := post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || time.Since(start) > time.Second {
		t.Fatalf("third request: %d %s (Retry-After %q) after %s", resp.StatusCode, b, resp.Header.Get("Retry-After"), time.Since(start))
	}
	// Another runtime's queue is not affected.
	go func() { time.Sleep(50 * time.Millisecond); close(block) }()
	if resp, _ := post(t, ts.URL+"/run_code", `{"code":"1","language":"sympy"}`); resp.StatusCode != 200 {
		t.Fatalf("sympy blocked by python's queue: %d", resp.StatusCode)
	}
	wg.Wait()
}

func TestClientHangUpCancels(t *testing.T) {
	cancelled := make(chan struct{})
	f := &fakeExecutor{run: func(ctx context.Context, req *execution.Request) (execution.Result, error) {
		<-ctx.Done()
		close(cancelled)
		return execution.Result{}, ctx.Err()
	}}
	ts := newTestServer(t, f, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/execute", strings.NewReader(`{"code":"1","language":"python"}`))
	_, err := http.DefaultClient.Do(req)
	if err == nil {
		t.Fatal("request should have been cut by its deadline")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the execution was not cancelled when the client went away")
	}
}

func TestBearerToken(t *testing.T) {
	ts := newTestServer(t, &fakeExecutor{run: echo}, func(c *Config) { c.Token = "s3cret" })
	if resp, _ := post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	if resp, _ := post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`, "Authorization", "Bearer nope"); resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if resp, _ := post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`, "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Fatalf("right token: %d", resp.StatusCode)
	}
	if resp, err := http.Get(ts.URL + "/v1/ping"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping needs no token: %v", resp)
	}
}

func TestExecuteCarriesBinaryOutput(t *testing.T) {
	f := &fakeExecutor{run: func(context.Context, *execution.Request) (execution.Result, error) {
		return execution.Result{Status: execution.Finished, Stdout: []byte{0xff, 0x00, 'a'}, Files: []execution.File{{Path: "o.bin", Content: []byte{1, 2}}}}, nil
	}}
	ts := newTestServer(t, f, nil)
	_, b := post(t, ts.URL+"/v1/execute", `{"code":"1","language":"python","limits":{"wall_time_ms":1500,"memory_mb":64}}`)
	var got executeResponse
	json.Unmarshal(b, &got)
	if got.Status != "finished" || got.StdoutBase64 != "/wBh" || got.Files["o.bin"] != "AQI=" {
		t.Fatalf("%s", b)
	}
	if l := f.got[0].Limits; l.WallTime != 1500*time.Millisecond || l.MemoryBytes != 64<<20 {
		t.Fatalf("limits %+v", l)
	}
}

func TestBatchKeepsOrder(t *testing.T) {
	ts := newTestServer(t, &fakeExecutor{run: echo}, nil)
	var reqs []string
	for i := 0; i < 50; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"code":"n%d","language":"python"}`, i))
	}
	reqs = append(reqs, `{"code":"x","language":"cobol"}`)
	_, b := post(t, ts.URL+"/v1/batch", `{"requests":[`+strings.Join(reqs, ",")+`]}`)
	var got batchResponse
	json.Unmarshal(b, &got)
	if len(got.Results) != 51 {
		t.Fatalf("%d results", len(got.Results))
	}
	for i := 0; i < 50; i++ {
		if got.Results[i].Stdout != fmt.Sprintf("n%d\n", i) {
			t.Fatalf("result %d: %+v", i, got.Results[i])
		}
	}
	if last := got.Results[50]; last.Status != "refused" || !strings.Contains(last.Error, "unknown language") {
		t.Fatalf("refused item: %+v", last)
	}
}

func TestSessionsLifecycleAndIdleExpiry(t *testing.T) {
	f := &fakeExecutor{run: echo}
	ts := newTestServer(t, f, func(c *Config) { c.SessionIdle = 200 * time.Millisecond })
	resp, b := post(t, ts.URL+"/v1/sessions", `{"language":"python"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("open: %d %s", resp.StatusCode, b)
	}
	var open map[string]string
	json.Unmarshal(b, &open)
	id := open["id"]
	post(t, ts.URL+"/v1/sessions/"+id+"/execute", `{"code":"x = 42"}`)
	_, b = post(t, ts.URL+"/v1/sessions/"+id+"/execute", `{"code":"x"}`)
	if !strings.Contains(string(b), `"stdout":"42\n"`) {
		t.Fatalf("state: %s", b)
	}
	if resp, _ := post(t, ts.URL+"/v1/sessions/nope/execute", `{"code":"x"}`); resp.StatusCode != 404 {
		t.Fatalf("unknown session: %d", resp.StatusCode)
	}
	time.Sleep(700 * time.Millisecond)
	if resp, _ := post(t, ts.URL+"/v1/sessions/"+id+"/execute", `{"code":"x"}`); resp.StatusCode != 404 {
		t.Fatalf("idle session still open: %d", resp.StatusCode)
	}
	f.mu.Lock()
	closed := len(f.closed)
	f.mu.Unlock()
	if closed != 1 {
		t.Fatalf("idle session not closed in the runtime: %v", f.closed)
	}
	// DELETE
	_, b = post(t, ts.URL+"/v1/sessions", `{"language":"python"}`)
	json.Unmarshal(b, &open)
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/v1/sessions/"+open["id"], nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete: %v %v", resp, err)
	}
}

func TestJupyterCells(t *testing.T) {
	f := &fakeExecutor{run: echo}
	ts := newTestServer(t, f, nil)
	_, b := post(t, ts.URL+"/run_jupyter", `{"cells":["a = 123","a","raise ValueError('bad')","a"]}`)
	var got runJupyterResponse
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != "Success" || len(got.Cells) != 4 || got.Driver == nil {
		t.Fatalf("%s", b)
	}
	if d := got.Cells[1].Display; len(d) != 1 || d[0]["text/plain"] != "123" {
		t.Fatalf("display: %s", b)
	}
	if e := got.Cells[2].Error; len(e) != 1 || e[0]["ename"] != "ValueError" || e[0]["evalue"] != "bad" {
		t.Fatalf("error entry: %s", b)
	}
	if len(f.sessions) != 0 || len(f.closed) != 1 {
		t.Fatalf("the kernel's session was not closed: %v %v", f.sessions, f.closed)
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, &fakeExecutor{run: echo}, nil)
	post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`)
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`retool_executions_total{runtime="python",status="finished"} 1`,
		"retool_execution_seconds_bucket", `retool_pool_workers{runtime="python",state="total"} 2`,
		`retool_worker_restarts_total{runtime="python"} 1`, "retool_queue_depth", "retool_sessions_open 0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestExecutorFailureIsSandboxError(t *testing.T) {
	ts := newTestServer(t, &fakeExecutor{run: func(context.Context, *execution.Request) (execution.Result, error) {
		return execution.Result{}, errors.New("plugin unreachable")
	}}, nil)
	resp, b := post(t, ts.URL+"/run_code", `{"code":"1","language":"python"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"SandboxError"`) {
		t.Fatalf("/run_code: %d %s", resp.StatusCode, b)
	}
	resp, b = post(t, ts.URL+"/v1/execute", `{"code":"1","language":"python"}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("/v1/execute: %d %s", resp.StatusCode, b)
	}
}
