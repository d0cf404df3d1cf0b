package policy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/retool-rl/retool/trainer/model"
)

// TestHandlerServesOpenAIClient points the project's own OpenAI client
// at the embedded model behind Handler: what retool serve --model offers.
func TestHandlerServesOpenAIClient(t *testing.T) {
	m, err := model.New(model.Config{HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, MaxPositionEmbeddings: 64}.Normalize(), 3)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := NewEmbedded(m)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	srv := httptest.NewServer(&Handler{Policy: emb, Model: "tiny", MaxTokens: 32})
	defer srv.Close()

	c, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", Model: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	seed := int64(7)
	req := Request{Prompt: "Problem: 1+1?\n", MaxTokens: 12, Temperature: 1, N: 3, Logprobs: true, Seed: &seed, Stop: []string{"</code>"}}
	got, err := c.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := emb.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d completions", len(got))
	}
	for i := range got {
		// An untrained byte-level model writes invalid UTF-8, which JSON
		// carries as U+FFFD: compare what survives, and every log-prob.
		if (utf8.ValidString(want[i].Text) && got[i].Text != want[i].Text) || got[i].FinishReason != want[i].FinishReason ||
			!slices.Equal(got[i].Logprobs, want[i].Logprobs) {
			t.Errorf("completion %d over HTTP %+v, in process %+v", i, got[i], want[i])
		}
	}

	for _, tc := range []struct{ body, want string }{
		{`{"prompt": "x", "max_tokens": 1000}`, "max_tokens 1000 is out of range"},
		{`{"prompt": "x", "model": "gpt-4"}`, "is not served here"},
		{`{"prompt": 3}`, "prompt must be a string"},
		{`{"prompt": "x", "stream": true}`, "stream is not supported"},
		{`{"prompt": "x", "n": 0}`, "n 0 is out of range"},
		{`{"prompt": "x", "top_p": 0}`, "top_p 0 is out of range"},
		{`{"prompt": "x", "stop": 5}`, "stop must be a string"},
		{`{"prompt": `, "malformed JSON"},
	} {
		resp, err := http.Post(srv.URL+"/v1/completions", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.body, resp.StatusCode, b.String(), tc.want)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/v1/models: %d", resp.StatusCode)
	}
}
