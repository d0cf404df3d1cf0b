package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Handler serves a Policy over HTTP as an OpenAI-compatible completions
// server: POST /v1/completions and GET /v1/models, so that any
// OpenAI-compatible client (retool eval, verl, an SDK) can sample from
// the embedded model. Errors come back as {"error": {"message", "type"}}
// with a 4xx for a bad request and a 5xx when generation fails.
type Handler struct {
	Policy Policy
	// Model is the name /v1/models lists; requests naming another model
	// are refused.
	Model string
	// MaxTokens caps a request's max_tokens (and is the default).
	MaxTokens int
	// MaxN caps n (default 64).
	MaxN int
	ids  atomic.Int64
}

// wireRequest is what the handler reads: the fields of OpenAI's
// completions request that a Policy can honour. stop may be a string or
// a list; unknown fields are ignored, as OpenAI-compatible servers do.
type wireRequest struct {
	Model       string          `json:"model"`
	Prompt      json.RawMessage `json:"prompt"`
	MaxTokens   *int            `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	N           *int            `json:"n"`
	Stop        json.RawMessage `json:"stop"`
	Logprobs    *int            `json:"logprobs"`
	Seed        *int64          `json:"seed"`
	Stream      bool            `json:"stream"`
}

type wireChoice struct {
	Text         string        `json:"text"`
	Index        int           `json:"index"`
	Logprobs     *wireLogprobs `json:"logprobs"`
	FinishReason string        `json:"finish_reason"`
	StopReason   *string       `json:"stop_reason"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		writeAPI(w, http.StatusOK, map[string]any{"object": "list", "data": []map[string]any{
			{"id": h.Model, "object": "model", "owned_by": "retool"},
		}})
	case r.URL.Path == "/v1/completions" && r.Method == http.MethodPost:
		h.complete(w, r)
	case r.URL.Path == "/v1/completions" || r.URL.Path == "/v1/models":
		apiError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	default:
		apiError(w, http.StatusNotFound, "no such endpoint %s (the embedded model serves /v1/completions and /v1/models)", r.URL.Path)
	}
}

func (h *Handler) complete(w http.ResponseWriter, r *http.Request) {
	var in wireRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	if err := dec.Decode(&in); err != nil {
		apiError(w, http.StatusBadRequest, "malformed JSON body: %v", err)
		return
	}
	req, err := h.request(in)
	if err != nil {
		apiError(w, http.StatusBadRequest, "%v", err)
		return
	}
	cs, err := h.Policy.Generate(r.Context(), req)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client hung up
		}
		apiError(w, http.StatusInternalServerError, "generation failed: %v", err)
		return
	}
	out := make([]wireChoice, len(cs))
	completion := 0
	for i, c := range cs {
		out[i] = wireChoice{Text: c.Text, Index: i, FinishReason: c.FinishReason}
		if c.StopSequence != "" {
			s := c.StopSequence
			out[i].StopReason = &s
		}
		if req.Logprobs {
			lp := &wireLogprobs{Tokens: c.Tokens, TokenLogprobs: make([]*float64, len(c.Logprobs))}
			for j := range c.Logprobs {
				v := c.Logprobs[j]
				lp.TokenLogprobs[j] = &v
			}
			out[i].Logprobs = lp
		}
		completion += len(c.TokenIDs)
	}
	writeAPI(w, http.StatusOK, map[string]any{
		"id": fmt.Sprintf("cmpl-%d", h.ids.Add(1)), "object": "text_completion",
		"created": time.Now().Unix(), "model": h.Model, "choices": out,
		"usage": map[string]int{"completion_tokens": completion},
	})
}

// request checks a wire request and turns it into a Request.
func (h *Handler) request(in wireRequest) (Request, error) {
	var req Request
	if in.Stream {
		return req, errors.New("stream is not supported; send stream: false")
	}
	if in.Model != "" && in.Model != h.Model {
		return req, fmt.Errorf("model %q is not served here; this server has %q", in.Model, h.Model)
	}
	if err := json.Unmarshal(in.Prompt, &req.Prompt); err != nil {
		var list []string
		if json.Unmarshal(in.Prompt, &list) != nil || len(list) != 1 {
			return req, errors.New("prompt must be a string (or a list of one string)")
		}
		req.Prompt = list[0]
	}
	if len(in.Stop) > 0 && string(in.Stop) != "null" {
		var one string
		if json.Unmarshal(in.Stop, &one) == nil {
			req.Stop = []string{one}
		} else if err := json.Unmarshal(in.Stop, &req.Stop); err != nil {
			return req, errors.New("stop must be a string or a list of strings")
		}
	}
	maxTok := h.MaxTokens
	if in.MaxTokens != nil {
		if *in.MaxTokens < 1 || (h.MaxTokens > 0 && *in.MaxTokens > h.MaxTokens) {
			return req, fmt.Errorf("max_tokens %d is out of range; expected 1 to %d", *in.MaxTokens, h.MaxTokens)
		}
		maxTok = *in.MaxTokens
	}
	req.MaxTokens = maxTok
	req.Temperature, req.TopP, req.N = 1, 1, 1
	if t := in.Temperature; t != nil {
		if *t < 0 || *t > 10 {
			return req, fmt.Errorf("temperature %g is out of range; expected 0 to 10", *t)
		}
		req.Temperature = *t
	}
	if p := in.TopP; p != nil {
		if *p <= 0 || *p > 1 {
			return req, fmt.Errorf("top_p %g is out of range; expected more than 0, at most 1", *p)
		}
		req.TopP = *p
	}
	maxN := h.MaxN
	if maxN == 0 {
		maxN = 64
	}
	if n := in.N; n != nil {
		if *n < 1 || *n > maxN {
			return req, fmt.Errorf("n %d is out of range; expected 1 to %d", *n, maxN)
		}
		req.N = *n
	}
	req.Logprobs = in.Logprobs != nil
	req.Seed = in.Seed
	for _, s := range req.Stop {
		if strings.TrimSpace(s) == "" && s == "" {
			return req, errors.New("stop holds an empty string")
		}
	}
	return req, nil
}

func writeAPI(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, format string, args ...any) {
	typ := "invalid_request_error"
	if code >= 500 {
		typ = "server_error"
	}
	writeAPI(w, code, map[string]any{"error": map[string]any{"message": fmt.Sprintf(format, args...), "type": typ}})
}
