package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestClient starts handler on loopback and returns a client for it
// whose waits are scaled by scale.
func newTestClient(t *testing.T, handler http.HandlerFunc, cfg OpenAIConfig, scale float64) (*OpenAI, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/v1"
	if cfg.Model == "" {
		cfg.Model = "test-model"
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	o.timeScale = scale
	return o, srv
}

// writeJSON answers v as JSON.
func writeJSON(t *testing.T, w http.ResponseWriter, v any) {
	t.Helper()
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Errorf("encoding response: %v", err)
	}
}

// decodeRequest reads a completions request body.
func decodeRequest(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("decoding request: %v", err)
	}
	return m
}

func TestNewOpenAIValidation(t *testing.T) {
	tests := []struct {
		name, base, model string
		wantURL, wantErr  string
	}{
		{"with v1", "http://127.0.0.1:8000/v1", "m", "http://127.0.0.1:8000/v1/completions", ""},
		{"without v1", "http://127.0.0.1:8000", "m", "http://127.0.0.1:8000/v1/completions", ""},
		{"trailing slash", "http://127.0.0.1:8000/v1/", "m", "http://127.0.0.1:8000/v1/completions", ""},
		{"root slash", "http://localhost:11434/", "m", "http://localhost:11434/v1/completions", ""},
		{"proxy path", "https://gw.example/openai/v1", "m", "https://gw.example/openai/v1/completions", ""},
		{"full endpoint", "http://h:1/v1/completions", "m", "http://h:1/v1/completions", ""},
		{"empty", "", "m", "", "no base URL"},
		{"no scheme", "127.0.0.1:8000/v1", "m", "", "bad base URL"},
		{"ftp", "ftp://h/v1", "m", "", "scheme must be http or https"},
		{"no host", "http:///v1", "m", "", "no host"},
		{"garbage", "http://[::1", "m", "", "bad base URL"},
		{"query", "http://h/v1?x=1", "m", "", "no query"},
		{"no model", "http://h/v1", "", "", "no model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := NewOpenAI(OpenAIConfig{BaseURL: tt.base, Model: tt.model})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.endpoint != tt.wantURL {
				t.Errorf("endpoint = %q, want %q", o.endpoint, tt.wantURL)
			}
			if cap(o.sem) != DefaultConcurrency || o.maxRetries != DefaultMaxRetries || o.timeout != DefaultTimeout || o.backoff != DefaultBackoff {
				t.Errorf("defaults not applied: %+v", o)
			}
		})
	}
	for _, cfg := range []OpenAIConfig{
		{BaseURL: "http://h", Model: "m", Concurrency: -1},
		{BaseURL: "http://h", Model: "m", Timeout: -time.Second},
	} {
		if _, err := NewOpenAI(cfg); err == nil {
			t.Errorf("NewOpenAI(%+v) accepted", cfg)
		}
	}
}

func TestGenerateGoodPath(t *testing.T) {
	stops := []string{"</code>", "</answer>", "<|im_end|>", "\n\n\n", "STOP5"}
	seed := int64(42)
	tests := []struct {
		name     string
		req      Request
		choices  []map[string]any
		want     []Completion
		checkReq func(t *testing.T, m map[string]any)
	}{
		{
			name: "plain text",
			req:  Request{Prompt: "p", MaxTokens: 10, Temperature: 0.7, TopP: 0.9},
			choices: []map[string]any{
				{"index": 0, "text": "hello", "finish_reason": "length"},
			},
			want: []Completion{{Text: "hello", FinishReason: "length"}},
			checkReq: func(t *testing.T, m map[string]any) {
				t.Helper()
				want := map[string]any{"model": "test-model", "prompt": "p", "max_tokens": 10.0, "temperature": 0.7, "top_p": 0.9, "n": 1.0, "stream": false}
				for k, v := range want {
					if !reflect.DeepEqual(m[k], v) {
						t.Errorf("request %s = %v, want %v", k, m[k], v)
					}
				}
				for _, k := range []string{"logprobs", "seed", "stop"} {
					if _, ok := m[k]; ok {
						t.Errorf("request has %s though not asked", k)
					}
				}
			},
		},
		{
			name: "n=3 ordered by index, all stops sent, seed, logprobs",
			req:  Request{Prompt: "p", N: 3, Stop: stops, Logprobs: true, Seed: &seed, MaxTokens: 5},
			choices: []map[string]any{
				{"index": 2, "text": "c", "finish_reason": "stop", "logprobs": map[string]any{"tokens": []string{"c"}, "token_logprobs": []float64{-0.3}}},
				{"index": 0, "text": "a", "finish_reason": "stop", "logprobs": map[string]any{"tokens": []string{"a"}, "token_logprobs": []float64{-0.1}}},
				{"index": 1, "text": "b b", "finish_reason": "length", "logprobs": map[string]any{"tokens": []string{"b", " b"}, "token_logprobs": []float64{-0.2, -1.5}}},
			},
			want: []Completion{
				{Text: "a", FinishReason: "stop", Tokens: []string{"a"}, Logprobs: []float64{-0.1}},
				{Text: "b b", FinishReason: "length", Tokens: []string{"b", " b"}, Logprobs: []float64{-0.2, -1.5}},
				{Text: "c", FinishReason: "stop", Tokens: []string{"c"}, Logprobs: []float64{-0.3}},
			},
			checkReq: func(t *testing.T, m map[string]any) {
				t.Helper()
				if m["n"] != 3.0 || m["logprobs"] != 1.0 || m["seed"] != 42.0 {
					t.Errorf("n, logprobs, seed = %v %v %v", m["n"], m["logprobs"], m["seed"])
				}
				if got := fmt.Sprint(m["stop"]); got != fmt.Sprint(stops) {
					t.Errorf("stop = %v, want all %d of %v", got, len(stops), stops)
				}
			},
		},
		{
			name: "stop included in text is removed and detected",
			req:  Request{Prompt: "p", Stop: []string{">", "</code>"}},
			choices: []map[string]any{
				{"index": 0, "text": "x=1\n```\n</code>", "finish_reason": "stop"},
			},
			want: []Completion{{Text: "x=1\n```\n", FinishReason: "stop", StopSequence: "</code>"}},
		},
		{
			name: "stop excluded with vLLM stop_reason",
			req:  Request{Prompt: "p", Stop: []string{"</code>"}},
			choices: []map[string]any{
				{"index": 0, "text": "x=1\n```\n", "finish_reason": "stop", "stop_reason": "</code>"},
			},
			want: []Completion{{Text: "x=1\n```\n", FinishReason: "stop", StopSequence: "</code>"}},
		},
		{
			name: "stop included with vLLM stop_reason",
			req:  Request{Prompt: "p", Stop: []string{"</code>"}},
			choices: []map[string]any{
				{"index": 0, "text": "y</code>", "finish_reason": "stop", "stop_reason": "</code>"},
			},
			want: []Completion{{Text: "y", FinishReason: "stop", StopSequence: "</code>"}},
		},
		{
			name: "SGLang matched_stop",
			req:  Request{Prompt: "p", Stop: []string{"</code>"}},
			choices: []map[string]any{
				{"index": 0, "text": "y", "finish_reason": "stop", "matched_stop": "</code>"},
			},
			want: []Completion{{Text: "y", FinishReason: "stop", StopSequence: "</code>"}},
		},
		{
			name: "stop excluded and unreported (Ollama): end of sequence look-alike",
			req:  Request{Prompt: "p", Stop: []string{"</code>"}},
			choices: []map[string]any{
				{"index": 0, "text": "y", "finish_reason": "stop", "stop_reason": nil},
			},
			want: []Completion{{Text: "y", FinishReason: "stop"}},
		},
		{
			name: "EOS token id as stop_reason",
			req:  Request{Prompt: "p", Stop: []string{"</code>"}},
			choices: []map[string]any{
				{"index": 0, "text": "done", "finish_reason": "stop", "stop_reason": 151643},
			},
			want: []Completion{{Text: "done", FinishReason: "stop"}},
		},
		{
			name: "chat-style logprobs with token ids (llama.cpp)",
			req:  Request{Prompt: "p", Logprobs: true},
			choices: []map[string]any{
				{"index": 0, "text": "hi!", "finish_reason": "eos", "logprobs": map[string]any{"content": []map[string]any{
					{"id": 7, "token": "hi", "logprob": -0.5}, {"id": 0, "token": "!", "logprob": 0.0},
				}}},
			},
			want: []Completion{{Text: "hi!", FinishReason: "stop", Tokens: []string{"hi", "!"}, TokenIDs: []int{7, 0}, Logprobs: []float64{-0.5, 0}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.Method != http.MethodPost || r.URL.Path != "/v1/completions" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
					t.Errorf("Authorization = %q", got)
				}
				m := decodeRequest(t, r)
				if tt.checkReq != nil {
					tt.checkReq(t, m)
				}
				writeJSON(t, w, map[string]any{"object": "text_completion", "choices": tt.choices})
			}, OpenAIConfig{APIKey: "sk-test"}, 0.001)
			got, err := o.Generate(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if calls.Load() != 1 {
				t.Errorf("%d requests, want 1", calls.Load())
			}
		})
	}
}

// TestGenerateBadResponses covers answers that must fail with a clear error
// and, except where retrying is the point, without a retry.
func TestGenerateBadResponses(t *testing.T) {
	tests := []struct {
		name      string
		req       Request
		status    int
		body      string
		wantErr   []string
		wantCalls int32
	}{
		{"400 with OpenAI error body", Request{Prompt: "p"}, 400,
			`{"error":{"message":"This model's maximum context length is 4096 tokens.\nHowever you requested 5000.","type":"invalid_request_error"}}`,
			[]string{"400 Bad Request", "maximum context length is 4096 tokens. However you requested 5000."}, 1},
		{"400 with vLLM error body", Request{Prompt: "p"}, 400,
			`{"object":"error","message":"The model bad does not exist.","type":"NotFoundError","code":404}`,
			[]string{"model bad does not exist"}, 1},
		{"422 FastAPI detail", Request{Prompt: "p"}, 422, `{"detail":"n must be at least 1"}`, []string{"422", "n must be at least 1"}, 1},
		{"404 plain text", Request{Prompt: "p"}, 404, "404 page not found\n", []string{"404 Not Found", "404 page not found"}, 1},
		{"malformed JSON", Request{Prompt: "p"}, 200, `{"choices":[{"text":"a"`, []string{"malformed JSON"}, 1},
		{"HTML from a proxy", Request{Prompt: "p"}, 200, `<html>bad gateway</html>`, []string{"malformed JSON", "<html>"}, 1},
		{"empty choices", Request{Prompt: "p"}, 200, `{"choices":[]}`, []string{"empty \"choices\""}, 1},
		{"no choices", Request{Prompt: "p"}, 200, `{"id":"x"}`, []string{"no \"choices\""}, 1},
		{"error in a 200", Request{Prompt: "p"}, 200, `{"error":{"message":"out of memory"}}`, []string{"out of memory"}, 1},
		{"choice without text", Request{Prompt: "p"}, 200, `{"choices":[{"index":0,"finish_reason":"stop"}]}`, []string{"choice 0 has no \"text\""}, 1},
		{"logprobs asked, none returned", Request{Prompt: "p", Logprobs: true}, 200, `{"choices":[{"index":0,"text":"a","logprobs":null}]}`, []string{"logprobs were asked for"}, 1},
		{"logprobs length mismatch", Request{Prompt: "p", Logprobs: true}, 200, `{"choices":[{"index":0,"text":"a","logprobs":{"tokens":["a","b"],"token_logprobs":[-1]}}]}`, []string{"2 tokens but 1 token_logprobs"}, 1},
		{"duplicate index", Request{Prompt: "p", N: 2}, 200, `{"choices":[{"index":0,"text":"a"},{"index":0,"text":"b"}]}`, []string{"two choices have index 0"}, 1},
		{"500 every time", Request{Prompt: "p"}, 500, `{"error":{"message":"engine dead"}}`, []string{"giving up after 3 attempts", "500", "engine dead"}, 3},
		{"empty prompt", Request{}, 200, `{}`, []string{"empty prompt"}, 0},
		{"negative n", Request{Prompt: "p", N: -1}, 200, `{}`, []string{"negative"}, 0},
		{"top_p > 1", Request{Prompt: "p", TopP: 1.5}, 200, `{}`, []string{"top_p"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}, OpenAIConfig{MaxRetries: 2}, 0.001)
			_, err := o.Generate(context.Background(), tt.req)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tt.wantCalls)
			}
			if tt.status >= 400 {
				var herr *HTTPError
				if !errors.As(err, &herr) || herr.StatusCode != tt.status {
					t.Errorf("error %v is not an *HTTPError with status %d", err, tt.status)
				}
			}
		})
	}
}

func TestGenerateServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	o, err := NewOpenAI(OpenAIConfig{BaseURL: "http://" + addr, Model: "m", MaxRetries: 3, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = o.Generate(context.Background(), Request{Prompt: "p"})
	if err == nil {
		t.Fatal("no error from a server that is down")
	}
	for _, want := range []string{"giving up after 4 attempts", "connection refused", "is the server running?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// Three backoffs of at least 5, 10, 20ms (jitter keeps the upper half).
	if el := time.Since(start); el < 35*time.Millisecond {
		t.Errorf("gave up after %v: the retries did not back off", el)
	}
}

func TestGenerateSlowServerContextDeadline(t *testing.T) {
	release := make(chan struct{})
	o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, OpenAIConfig{}, 0.001)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := o.Generate(ctx, Request{Prompt: "p"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v after a 100ms deadline", el)
	}
}

func TestGeneratePerRequestTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			io.Copy(io.Discard, r.Body) // so the server notices the client leaving
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		writeJSON(t, w, map[string]any{"choices": []map[string]any{{"index": 0, "text": "ok"}}})
	}, OpenAIConfig{Timeout: 50 * time.Millisecond}, 0.001)
	t.Cleanup(func() { close(release) })
	got, err := o.Generate(context.Background(), Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Text != "ok" || calls.Load() != 2 {
		t.Errorf("got %+v after %d requests, want ok after 2", got, calls.Load())
	}
}

func TestGenerateRetries(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		status    int
		header    string
		backoff   time.Duration
		scale     float64
		minWait   time.Duration
		maxWait   time.Duration
		wantCalls int32
	}{
		{"500 twice then success", 2, 500, "", time.Millisecond, 1, 0, 2 * time.Second, 3},
		{"503 then success", 1, 503, "", time.Millisecond, 1, 0, 2 * time.Second, 2},
		// Retry-After: 1 replaces the (huge) backoff; scaled by 0.1 → ~100ms.
		{"429 with Retry-After: 1", 1, 429, "1", time.Hour, 0.1, 90 * time.Millisecond, 900 * time.Millisecond, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tt.failures {
					if tt.header != "" {
						w.Header().Set("Retry-After", tt.header)
					}
					w.WriteHeader(tt.status)
					io.WriteString(w, `{"error":{"message":"busy"}}`)
					return
				}
				writeJSON(t, w, map[string]any{"choices": []map[string]any{{"index": 0, "text": "ok", "finish_reason": "stop"}}})
			}, OpenAIConfig{Backoff: tt.backoff, MaxBackoff: tt.backoff}, tt.scale)
			start := time.Now()
			got, err := o.Generate(context.Background(), Request{Prompt: "p"})
			el := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Text != "ok" {
				t.Errorf("got %+v", got)
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tt.wantCalls)
			}
			if el < tt.minWait || el > tt.maxWait {
				t.Errorf("took %v, want between %v and %v", el, tt.minWait, tt.maxWait)
			}
		})
	}
}

func TestGenerateFewerChoicesThanN(t *testing.T) {
	t.Run("one per request (Ollama)", func(t *testing.T) {
		var mu sync.Mutex
		var ns, seeds []float64
		o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			m := decodeRequest(t, r)
			mu.Lock()
			ns = append(ns, m["n"].(float64))
			seeds = append(seeds, m["seed"].(float64))
			k := len(ns)
			mu.Unlock()
			writeJSON(t, w, map[string]any{"choices": []map[string]any{{"index": 0, "text": fmt.Sprint("t", k), "finish_reason": "stop"}}})
		}, OpenAIConfig{}, 0.001)
		seed := int64(7)
		got, err := o.Generate(context.Background(), Request{Prompt: "p", N: 3, Seed: &seed})
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, c := range got {
			texts = append(texts, c.Text)
		}
		if fmt.Sprint(texts) != "[t1 t2 t3]" || fmt.Sprint(ns) != "[3 2 1]" || fmt.Sprint(seeds) != "[7 8 9]" {
			t.Errorf("texts %v, n sent %v, seeds sent %v", texts, ns, seeds)
		}
	})
	t.Run("follow-up returns nothing", func(t *testing.T) {
		var calls atomic.Int32
		o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				writeJSON(t, w, map[string]any{"choices": []map[string]any{{"index": 0, "text": "a"}}})
				return
			}
			writeJSON(t, w, map[string]any{"choices": []map[string]any{}})
		}, OpenAIConfig{}, 0.001)
		_, err := o.Generate(context.Background(), Request{Prompt: "p", N: 4})
		if err == nil || !strings.Contains(err.Error(), "fewer choices than n") || !strings.Contains(err.Error(), "1 of 4") {
			t.Errorf("err = %v, want a clear follow-up error", err)
		}
		if calls.Load() != 2 {
			t.Errorf("%d requests, want 2", calls.Load())
		}
	})
}

func TestGenerateConcurrencyBound(t *testing.T) {
	const limit, callers = 3, 20
	var inFlight, maxInFlight atomic.Int32
	o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		writeJSON(t, w, map[string]any{"choices": []map[string]any{{"index": 0, "text": "ok"}}})
	}, OpenAIConfig{Concurrency: limit}, 0.001)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			if _, err := o.Generate(context.Background(), Request{Prompt: "p"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := maxInFlight.Load(); m > limit || m < 2 {
		t.Errorf("max in flight %d, want ≤ %d (and some parallelism)", m, limit)
	}
}

func TestGenerateCancelDuringBackoff(t *testing.T) {
	var calls atomic.Int32
	o, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}, OpenAIConfig{Backoff: 10 * time.Second}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := o.Generate(ctx, Request{Prompt: "p"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("returned %v after being cancelled during a 10s backoff", el)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q does not name the last failure", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests, want 1", calls.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{"0.5", 500 * time.Millisecond},
		{"0", 0},
		{"-3", 0},
		{"junk", 0},
		{"86400", maxRetryAfter},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	future := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(future); got < 8*time.Second || got > 10*time.Second {
		t.Errorf("parseRetryAfter(date in 10s) = %v", got)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	o, err := NewOpenAI(OpenAIConfig{BaseURL: "http://h", Model: "m", Backoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			if d := o.backoffFor(attempt); d < want/2 || d > want {
				t.Fatalf("backoffFor(%d) = %v, want in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestContinuePrompt(t *testing.T) {
	p := "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
	so := "Let me compute.\n<code>\n```python\nprint(1)\n```\n</code>\n<interpreter>\n1\n</interpreter>\n\n"
	if got := ContinuePrompt(p, so); got != p+so {
		t.Errorf("ContinuePrompt = %q", got)
	}
}
