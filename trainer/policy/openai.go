package policy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of OpenAIConfig.
const (
	DefaultConcurrency = 16
	DefaultTimeout     = 10 * time.Minute
	DefaultMaxRetries  = 5
	DefaultBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second

	// maxRetryAfter caps how long a server's Retry-After can make us wait.
	maxRetryAfter = 5 * time.Minute
	// maxResponseBytes bounds a response body (n × long generations with
	// logprobs stay far below it).
	maxResponseBytes = 256 << 20
	// maxErrorChars bounds the server message quoted in an error.
	maxErrorChars = 300
)

// OpenAIConfig configures an OpenAI client. Zero values take the defaults.
type OpenAIConfig struct {
	// BaseURL is the server's API root, http or https:
	// "http://127.0.0.1:8000/v1" or "http://127.0.0.1:8000". A URL with no
	// path gets "/v1" appended (vLLM, SGLang, llama.cpp and Ollama all
	// serve /v1/completions); any other path is used as given (a proxy at
	// "/openai/v1"), and a trailing "/completions" is dropped. Requests go
	// to BaseURL + "/completions".
	BaseURL string
	// Model is sent as "model". Required (vLLM, SGLang and Ollama check
	// it; llama.cpp ignores it, so any name will do there).
	Model string
	// APIKey, when set, is sent as "Authorization: Bearer APIKey".
	APIKey string
	// Concurrency bounds the HTTP requests in flight across all callers
	// (default 16). Backoff waits do not hold a slot.
	Concurrency int
	// Timeout bounds one HTTP attempt, body included (default 10 min: long
	// generations). A timed-out attempt is retried.
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt
	// (default 5; negative: no retries).
	MaxRetries int
	// Backoff is the first wait before a retry (default 500ms); it doubles
	// per retry, with jitter (a uniform draw in [d/2, d]), up to MaxBackoff
	// (default 30s). A Retry-After header (seconds or an HTTP date) from a
	// 429 or 5xx replaces it, capped at 5 minutes.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// HTTPClient is the client used (default: a client with no overall
	// timeout — Timeout is applied per attempt through the context).
	HTTPClient *http.Client
}

// OpenAI is a Policy backed by an OpenAI-compatible legacy completions
// endpoint (POST /v1/completions) — vLLM, SGLang, llama.cpp's server,
// Ollama. It is safe for concurrent use.
//
// What it normalises across servers:
//   - Choices are returned ordered by their "index".
//   - Stop sequences: some servers include the matched stop sequence in
//     the text, others leave it out. Completion.Text never ends with the
//     stop sequence that ended it; Completion.StopSequence names it when
//     known: from vLLM's "stop_reason" or SGLang's "matched_stop" when it
//     is a string, else when the returned text ended with one of
//     Request.Stop (which is then removed). A server that drops the stop
//     sequence and says nothing about it (Ollama, llama.cpp) leaves
//     StopSequence empty: the end of sequence and a stop sequence then
//     look alike ("stop").
//   - FinishReason is "stop" or "length" (also for "eos", "stop_sequence"
//     and "max_tokens"); other values ("abort", "content_filter") pass
//     through. A text that ended on a stop sequence is "stop".
//   - Tokens and Logprobs are as the server sampled them; they may cover
//     the stop sequence although Text does not (vLLM does this). Both
//     OpenAI's legacy format (logprobs.tokens / logprobs.token_logprobs)
//     and the chat-style one (logprobs.content[].token/logprob/id, with
//     ids filling TokenIDs) are read.
//   - A server that returns fewer choices than n (Ollama ignores n) gets
//     follow-up requests for the rest — at most n requests in all, since
//     each must return at least one choice. With a Seed, a follow-up uses
//     Seed + the number of completions already received, so that it does
//     not repeat them.
//
// All of Request.Stop is sent even past OpenAI's limit of 4 stop
// sequences: the open servers accept more, and OpenAI itself answers 400,
// which is surfaced.
type OpenAI struct {
	endpoint   string
	model      string
	apiKey     string
	timeout    time.Duration
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration
	client     *http.Client
	sem        chan struct{}

	// timeScale multiplies every wait (backoff and Retry-After); tests set
	// it small. 1 in production.
	timeScale float64
}

var _ Policy = (*OpenAI)(nil)

// NewOpenAI validates cfg and returns a client. It does not contact the
// server.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	endpoint, err := completionsURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("policy: openai: no model name (the servers check it; llama.cpp accepts any)")
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("policy: openai: concurrency %d is negative", cfg.Concurrency)
	}
	if cfg.Timeout < 0 || cfg.Backoff < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("policy: openai: timeout and backoffs must not be negative")
	}
	o := &OpenAI{
		endpoint:   endpoint,
		model:      cfg.Model,
		apiKey:     cfg.APIKey,
		timeout:    orDefault(cfg.Timeout, DefaultTimeout),
		maxRetries: cfg.MaxRetries,
		backoff:    orDefault(cfg.Backoff, DefaultBackoff),
		maxBackoff: orDefault(cfg.MaxBackoff, DefaultMaxBackoff),
		client:     cfg.HTTPClient,
		timeScale:  1,
	}
	switch {
	case o.maxRetries == 0:
		o.maxRetries = DefaultMaxRetries
	case o.maxRetries < 0:
		o.maxRetries = 0
	}
	if o.maxBackoff < o.backoff {
		o.maxBackoff = o.backoff
	}
	if o.client == nil {
		o.client = &http.Client{}
	}
	o.sem = make(chan struct{}, orDefault(cfg.Concurrency, DefaultConcurrency))
	return o, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// completionsURL turns a BaseURL into the completions endpoint.
func completionsURL(base string) (string, error) {
	base = strings.TrimSpace(base)
	if base == "" {
		return "", errors.New("policy: openai: no base URL (e.g. http://127.0.0.1:8000/v1)")
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("policy: openai: bad base URL %q: %v", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("policy: openai: bad base URL %q: scheme must be http or https (e.g. http://127.0.0.1:8000/v1)", base)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("policy: openai: bad base URL %q: no host", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("policy: openai: bad base URL %q: no query or fragment allowed", base)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/completions")
	if p == "" {
		p = "/v1"
	}
	u.Path = p + "/completions"
	u.RawPath = ""
	return u.String(), nil
}

// ContinuePrompt is the prompt that continues a generation: the original
// prompt followed by the response so far (model text and appended tool
// output), concatenated exactly — no separator. The legacy completions
// API has no other way to continue, so after a tool call the rollout
// engine resends the whole text; servers with prefix caching (vLLM,
// SGLang) do not recompute the shared prefix. The server re-tokenises
// the text, so the token boundaries at the junction may differ from the
// ones sampled.
func ContinuePrompt(prompt, responseSoFar string) string {
	return prompt + responseSoFar
}

// HTTPError is a non-2xx answer from the server.
type HTTPError struct {
	StatusCode int
	// Message is the server's error message on one line (from
	// {"error":{"message":…}}, {"message":…}, {"detail":…} or the raw body).
	Message string
	URL     string
}

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "(empty body)"
	}
	return fmt.Sprintf("POST %s: %d %s: %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode), msg)
}

// wire types

type completionRequest struct {
	Model       string   `json:"model"`
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature float64  `json:"temperature"`
	TopP        float64  `json:"top_p,omitempty"`
	N           int      `json:"n"`
	Stop        []string `json:"stop,omitempty"`
	Logprobs    *int     `json:"logprobs,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Stream      bool     `json:"stream"`
}

type completionResponse struct {
	Choices *[]choice       `json:"choices"`
	Error   json.RawMessage `json:"error"`
}

type choice struct {
	Text         *string         `json:"text"`
	Index        *int            `json:"index"`
	FinishReason *string         `json:"finish_reason"`
	StopReason   json.RawMessage `json:"stop_reason"`  // vLLM: string, token id or null
	MatchedStop  json.RawMessage `json:"matched_stop"` // SGLang: same
	Logprobs     *wireLogprobs   `json:"logprobs"`
}

type wireLogprobs struct {
	Tokens        []string   `json:"tokens"`
	TokenLogprobs []*float64 `json:"token_logprobs"`
	Content       []struct {
		ID      *int     `json:"id"`
		Token   string   `json:"token"`
		Logprob *float64 `json:"logprob"`
	} `json:"content"`
}

// Generate asks the server for req.N completions of req.Prompt
// (N 0 is taken as 1). MaxTokens 0 leaves the server's default (vLLM's
// is 16: set it); TopP 0 leaves it unset (1).
func (o *OpenAI) Generate(ctx context.Context, req Request) ([]Completion, error) {
	if req.N < 0 {
		return nil, fmt.Errorf("policy: openai: n %d is negative", req.N)
	}
	if req.MaxTokens < 0 {
		return nil, fmt.Errorf("policy: openai: max tokens %d is negative", req.MaxTokens)
	}
	if req.TopP < 0 || req.TopP > 1 || math.IsNaN(req.TopP) {
		return nil, fmt.Errorf("policy: openai: top_p %v is outside (0, 1]", req.TopP)
	}
	if req.Temperature < 0 || math.IsNaN(req.Temperature) || math.IsInf(req.Temperature, 0) {
		return nil, fmt.Errorf("policy: openai: temperature %v is invalid", req.Temperature)
	}
	if req.Prompt == "" {
		return nil, errors.New("policy: openai: empty prompt")
	}
	n := max(req.N, 1)
	var stops []string
	for _, s := range req.Stop {
		if s != "" {
			stops = append(stops, s)
		}
	}
	body := completionRequest{
		Model:       o.model,
		Prompt:      req.Prompt,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stop:        stops,
	}
	if req.Logprobs {
		one := 1
		body.Logprobs = &one
	}
	out := make([]Completion, 0, n)
	for round := 0; len(out) < n; round++ {
		if round >= n {
			// Unreachable: every round adds at least one completion.
			return nil, fmt.Errorf("policy: openai: got %d of %d completions after %d requests", len(out), n, round)
		}
		body.N = n - len(out)
		if req.Seed != nil {
			s := *req.Seed + int64(len(out))
			body.Seed = &s
		}
		got, err := o.request(ctx, &body, req.Logprobs, stops)
		if err != nil {
			if round > 0 {
				return nil, fmt.Errorf("%w (follow-up request %d: the server returned fewer choices than n; %d of %d received)", err, round, len(out), n)
			}
			return nil, err
		}
		if len(got) > body.N {
			got = got[:body.N]
		}
		out = append(out, got...)
	}
	return out, nil
}

// request runs one completions request with retries and parses it.
func (o *OpenAI) request(ctx context.Context, body *completionRequest, wantLogprobs bool, stops []string) ([]Completion, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("policy: openai: encoding request: %v", err)
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		data, retryAfter, err := o.attempt(ctx, payload)
		if err == nil {
			return parseResponse(data, wantLogprobs, stops)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("policy: openai: %w (last error: %v)", ctx.Err(), err)
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return nil, fmt.Errorf("policy: openai: %w", perm.err)
		}
		lastErr = err
		if attempt >= o.maxRetries {
			break
		}
		wait := o.backoffFor(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, maxRetryAfter)
		}
		wait = time.Duration(float64(wait) * o.timeScale)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("policy: openai: %w while waiting to retry (last error: %v)", ctx.Err(), lastErr)
		case <-t.C:
		}
	}
	hint := ""
	if isConnRefused(lastErr) {
		hint = " (is the server running?)"
	}
	return nil, fmt.Errorf("policy: openai: giving up after %d attempts: %w%s", o.maxRetries+1, lastErr, hint)
}

// backoffFor is the jittered exponential backoff before retry attempt+1.
func (o *OpenAI) backoffFor(attempt int) time.Duration {
	d := o.backoff
	for i := 0; i < attempt && d < o.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.maxBackoff)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// permanentError marks an attempt's error as not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// attempt sends one HTTP request, holding a concurrency slot. It returns
// the 2xx body, or an error (permanentError when not retryable) and the
// server's Retry-After.
func (o *OpenAI) attempt(ctx context.Context, payload []byte) ([]byte, time.Duration, error) {
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-o.sem }()

	actx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, o.endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, 0, &permanentError{err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if o.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+o.apiKey)
	}
	resp, err := o.client.Do(hreq)
	if err != nil {
		return nil, 0, o.transportError(ctx, actx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, 0, o.transportError(ctx, actx, fmt.Errorf("reading response: %w", err))
	}
	if resp.StatusCode/100 == 2 {
		if len(data) > maxResponseBytes {
			return nil, 0, &permanentError{fmt.Errorf("response larger than %d bytes", maxResponseBytes)}
		}
		return data, 0, nil
	}
	herr := &HTTPError{StatusCode: resp.StatusCode, Message: errorMessage(data), URL: o.endpoint}
	if resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && resp.StatusCode != http.StatusHTTPVersionNotSupported) {
		return nil, parseRetryAfter(resp.Header.Get("Retry-After")), herr
	}
	return nil, 0, &permanentError{herr}
}

// transportError classifies a failed round trip: the caller's context
// ending is returned as is; a per-attempt timeout and network failures are
// retryable; TLS certificate problems and bad URLs are not.
func (o *OpenAI) transportError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if actx.Err() != nil {
		return fmt.Errorf("POST %s: no answer within %v (per-request timeout)", o.endpoint, o.timeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return &permanentError{fmt.Errorf("POST %s: %v", o.endpoint, err)}
	}
	return fmt.Errorf("POST %s: %w", o.endpoint, err)
}

func isConnRefused(err error) bool {
	if err == nil {
		return false
	}
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil {
		if s <= 0 || math.IsNaN(s) {
			return 0
		}
		if s > maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// errorMessage extracts a server's error message on one line.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		switch {
		case len(v.Error) > 0 && string(v.Error) != "null":
			var e struct {
				Message string `json:"message"`
			}
			var s string
			if json.Unmarshal(v.Error, &e) == nil && e.Message != "" {
				msg = e.Message
			} else if json.Unmarshal(v.Error, &s) == nil {
				msg = s
			} else {
				msg = string(v.Error)
			}
		case v.Message != "":
			msg = v.Message
		case len(v.Detail) > 0 && string(v.Detail) != "null":
			var s string
			if json.Unmarshal(v.Detail, &s) == nil {
				msg = s
			} else {
				msg = string(v.Detail)
			}
		}
	}
	if msg == "" {
		msg = string(body)
	}
	return oneLine(msg, maxErrorChars)
}

// oneLine collapses whitespace and truncates s to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// parseResponse decodes a 2xx body into completions ordered by index.
func parseResponse(data []byte, wantLogprobs bool, stops []string) ([]Completion, error) {
	var resp completionResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("policy: openai: malformed JSON response: %v (body starts: %q)", err, oneLine(string(data), 80))
	}
	if resp.Choices == nil {
		if len(resp.Error) > 0 && string(resp.Error) != "null" {
			return nil, fmt.Errorf("policy: openai: server error: %s", errorMessage(data))
		}
		return nil, fmt.Errorf("policy: openai: response has no \"choices\" (body starts: %q)", oneLine(string(data), 80))
	}
	choices := *resp.Choices
	if len(choices) == 0 {
		return nil, errors.New("policy: openai: response has an empty \"choices\" list")
	}
	type indexed struct {
		idx int
		c   Completion
	}
	all := make([]indexed, 0, len(choices))
	for i, ch := range choices {
		idx := i
		if ch.Index != nil {
			idx = *ch.Index
		}
		if ch.Text == nil {
			return nil, fmt.Errorf("policy: openai: choice %d has no \"text\"", idx)
		}
		c := Completion{Text: *ch.Text}
		if ch.FinishReason != nil {
			c.FinishReason = normaliseFinish(*ch.FinishReason)
		}
		if wantLogprobs {
			if err := readLogprobs(&c, ch.Logprobs); err != nil {
				return nil, fmt.Errorf("policy: openai: choice %d: %w", idx, err)
			}
		}
		normaliseStop(&c, stopString(ch.StopReason, ch.MatchedStop), stops)
		all = append(all, indexed{idx, c})
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].idx < all[b].idx })
	out := make([]Completion, len(all))
	for i, x := range all {
		if i > 0 && x.idx == all[i-1].idx {
			return nil, fmt.Errorf("policy: openai: two choices have index %d", x.idx)
		}
		out[i] = x.c
	}
	return out, nil
}

func normaliseFinish(r string) string {
	switch r {
	case "stop", "eos", "stop_sequence", "end_turn":
		return "stop"
	case "length", "max_tokens":
		return "length"
	}
	return r
}

// stopString is the matched stop string reported by the server, if any.
func stopString(raws ...json.RawMessage) string {
	for _, raw := range raws {
		var s string
		if len(raw) > 0 && json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// normaliseStop removes a trailing stop sequence from c.Text and records
// it. reported is the server's matched stop string ("" if none).
func normaliseStop(c *Completion, reported string, stops []string) {
	if reported != "" {
		c.StopSequence = reported
		c.Text = strings.TrimSuffix(c.Text, reported)
		c.FinishReason = "stop"
		return
	}
	// The longest matching stop sequence wins ("</code>" over ">").
	best := ""
	for _, s := range stops {
		if len(s) > len(best) && strings.HasSuffix(c.Text, s) {
			best = s
		}
	}
	if best != "" {
		c.StopSequence = best
		c.Text = strings.TrimSuffix(c.Text, best)
		c.FinishReason = "stop"
	}
}

func readLogprobs(c *Completion, lp *wireLogprobs) error {
	if lp == nil {
		return errors.New("logprobs were asked for but the server returned none")
	}
	switch {
	case len(lp.Content) > 0:
		c.Tokens = make([]string, len(lp.Content))
		c.Logprobs = make([]float64, len(lp.Content))
		ids := make([]int, 0, len(lp.Content))
		for k, t := range lp.Content {
			if t.Logprob == nil {
				return fmt.Errorf("logprob of token %d is null", k)
			}
			c.Tokens[k] = t.Token
			c.Logprobs[k] = *t.Logprob
			if t.ID != nil {
				ids = append(ids, *t.ID)
			}
		}
		if len(ids) == len(lp.Content) {
			c.TokenIDs = ids
		}
	default:
		if len(lp.Tokens) != len(lp.TokenLogprobs) {
			return fmt.Errorf("logprobs has %d tokens but %d token_logprobs", len(lp.Tokens), len(lp.TokenLogprobs))
		}
		c.Tokens = lp.Tokens
		c.Logprobs = make([]float64, len(lp.TokenLogprobs))
		for k, v := range lp.TokenLogprobs {
			if v == nil {
				return fmt.Errorf("logprob of token %d (%q) is null", k, lp.Tokens[k])
			}
			c.Logprobs[k] = *v
		}
	}
	return nil
}
