package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// outcomeKind classifies one request's final answer.
type outcomeKind string

const (
	kindOK           outcomeKind = "ok"            // Success, Finished, stdout as expected
	kindWrong        outcomeKind = "wrong"         // Success but other stdout, or an unknown status
	kindFailed       outcomeKind = "failed"        // status Failed
	kindSandboxError outcomeKind = "sandbox_error" // status SandboxError
	kindHTTPError    outcomeKind = "http_error"    // another HTTP status
	kindRejected     outcomeKind = "rejected"      // still 429/503 after the retries
	kindTimeout      outcomeKind = "timeout"       // no answer within the per-request timeout: a hang
	kindTransport    outcomeKind = "transport"     // connection refused/reset, unreadable body
	kindCut          outcomeKind = "cut"           // cancelled by the harness at the end of a run
)

// lost reports whether the request got no answer at all.
func (k outcomeKind) lost() bool { return k == kindTimeout || k == kindTransport }

// outcome is one request as the client saw it. Times are offsets from
// the run's origin.
type outcome struct {
	Tag         string        `json:"tag,omitempty"`
	Start       time.Duration `json:"start_ns"`
	End         time.Duration `json:"end_ns"`
	Kind        outcomeKind   `json:"kind"`
	HTTPStatus  int           `json:"http_status,omitempty"`
	Status      string        `json:"status,omitempty"`
	RunStatus   string        `json:"run_status,omitempty"`
	StdoutBytes int           `json:"stdout_bytes,omitempty"`
	Retries429  int           `json:"retries_429,omitempty"`
	Retries503  int           `json:"retries_503,omitempty"`
	Detail      string        `json:"detail,omitempty"`
}

func (o outcome) latency() time.Duration { return o.End - o.Start }

// client posts /run_code to one server, retrying 429/503 after their
// Retry-After a bounded number of times.
type client struct {
	http       *http.Client
	url        string
	timeout    time.Duration // per HTTP attempt
	maxRetries int
	maxWait    time.Duration // cap on one Retry-After wait
}

func newClient(baseURL string, timeout time.Duration, maxRetries int) *client {
	tr := &http.Transport{
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{
		http:    &http.Client{Transport: tr},
		url:     strings.TrimSuffix(baseURL, "/") + "/run_code",
		timeout: timeout, maxRetries: maxRetries, maxWait: 5 * time.Second,
	}
}

// maxBody bounds what is read of one answer (an output flood's 1 MiB
// of stdout, JSON-escaped, fits with room to spare).
const maxBody = 32 << 20

// run sends body until it gets a final answer and classifies it against
// want. ctx cancels the whole request (the harness cutting a run).
func (c *client) run(ctx context.Context, origin time.Time, body []byte, want string) (o outcome) {
	o.Start = time.Since(origin)
	defer func() { o.End = time.Since(origin) }()
	for attempt := 0; ; attempt++ {
		resp, payload, err := c.post(ctx, body)
		if err != nil {
			o.Kind, o.Detail = c.classifyError(ctx, err)
			return o
		}
		o.HTTPStatus = resp.StatusCode
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if resp.StatusCode == http.StatusTooManyRequests {
				o.Retries429++
			} else {
				o.Retries503++
			}
			if attempt >= c.maxRetries {
				o.Kind, o.Detail = kindRejected, oneLine(payload)
				return o
			}
			if !sleepCtx(ctx, c.retryAfter(resp)) {
				o.Kind = kindCut
				return o
			}
			continue
		}
		classify(&o, resp.StatusCode, payload, want)
		return o
	}
}

// post does one HTTP attempt under the per-request timeout.
func (c *client) post(ctx context.Context, body []byte) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("read answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return resp, payload, nil
}

// classifyError tells a hang (the per-request timeout) from the harness
// cutting the run and from a broken connection.
func (c *client) classifyError(ctx context.Context, err error) (outcomeKind, string) {
	switch {
	case ctx.Err() != nil:
		return kindCut, ""
	case errors.Is(err, context.DeadlineExceeded):
		return kindTimeout, fmt.Sprintf("no answer within %s", c.timeout)
	default:
		return kindTransport, err.Error()
	}
}

// retryAfter reads Retry-After in seconds (fractions accepted), with
// 100 ms when absent and c.maxWait as the cap.
func (c *client) retryAfter(resp *http.Response) time.Duration {
	d := 100 * time.Millisecond
	if s, err := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("Retry-After")), 64); err == nil && s >= 0 {
		d = time.Duration(s * float64(time.Second))
	}
	return min(d, c.maxWait)
}

// classify fills o from a final HTTP answer.
func classify(o *outcome, code int, payload []byte, want string) {
	var r runCodeResponse
	if err := json.Unmarshal(payload, &r); err != nil || r.Status == "" {
		o.Kind = kindHTTPError
		if code == http.StatusOK {
			o.Kind = kindWrong
		}
		o.Detail = fmt.Sprintf("HTTP %d: %s", code, oneLine(payload))
		return
	}
	o.Status = r.Status
	if r.RunResult != nil {
		o.RunStatus = r.RunResult.Status
		o.StdoutBytes = len(r.RunResult.Stdout)
	}
	switch {
	case r.Status == statusSuccess && r.RunResult != nil && r.RunResult.Status == runFinished && r.RunResult.Stdout == want:
		o.Kind = kindOK
	case r.Status == statusFailed:
		o.Kind = kindFailed
	case r.Status == statusSandboxError:
		o.Kind = kindSandboxError
	default:
		o.Kind = kindWrong
	}
	if code != http.StatusOK && o.Kind == kindOK {
		o.Kind = kindHTTPError
	}
	if o.Kind != kindOK {
		o.Detail = describe(code, r)
	}
}

// describe is one line about an answer that was not the expected one.
func describe(code int, r runCodeResponse) string {
	s := fmt.Sprintf("HTTP %d status=%s message=%q", code, r.Status, clip(r.Message, 160))
	if rr := r.RunResult; rr != nil {
		rc := "null"
		if rr.ReturnCode != nil {
			rc = strconv.Itoa(*rr.ReturnCode)
		}
		s += fmt.Sprintf(" run_result={status=%s return_code=%s stdout=%q stderr=%q}",
			rr.Status, rc, clip(rr.Stdout, 80), clip(rr.Stderr, 160))
	}
	return s
}

func oneLine(b []byte) string { return clip(strings.TrimSpace(string(b)), 200) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sleepCtx sleeps d unless ctx ends first; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
