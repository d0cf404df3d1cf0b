package policy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/retool-rl/retool/trainer/model"
)

func embTinyConfig() model.Config {
	return model.Config{HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 1, NumAttentionHeads: 2, MaxPositionEmbeddings: 64}
}

// embRandomModel is an untrained model with weights large enough for
// peaked, varied next-token distributions.
func embRandomModel(t *testing.T) *model.Model {
	t.Helper()
	cfg := embTinyConfig()
	cfg.InitializerRange = 0.3
	m, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var embScript = [][2]string{
	{"Q1:", "ab<code>x</code>cd"},
	{"Q2:", "hello!"},
}

var (
	embScriptOnce  sync.Once
	embScriptModel *model.Model
)

// embScripted returns a tiny model trained to answer the embScript
// prompts by heart, so that greedy completions are predictable.
func embScripted(t *testing.T) *model.Model {
	t.Helper()
	embScriptOnce.Do(func() {
		m, err := model.New(embTinyConfig(), 41)
		if err != nil {
			t.Fatal(err)
		}
		tok := m.Tokenizer()
		var seqs [][]int
		n := 0
		for _, s := range embScript {
			seq := append(append([]int{model.BOS}, tok.Encode(s[0]+s[1])...), model.EOS)
			seqs = append(seqs, seq)
			n += len(seq) - 1
		}
		opt, err := model.NewAdamW(m, model.AdamWConfig{LR: 1e-2})
		if err != nil {
			t.Fatal(err)
		}
		for range 80 {
			m.ZeroGrad()
			err := m.Accumulate(seqs, func(_ int, out model.Output) model.Grads {
				g := make([]float32, len(out.Logp))
				for i := range g {
					g[i] = -1 / float32(n)
				}
				return model.Grads{Logp: g}
			})
			if err != nil {
				t.Fatal(err)
			}
			opt.Step(1e-2)
		}
		embScriptModel = m
	})
	if embScriptModel == nil {
		t.Fatal("no scripted model")
	}
	return embScriptModel
}

func newEmbedded(t *testing.T, m *model.Model, opts ...EmbeddedOption) *Embedded {
	t.Helper()
	e, err := NewEmbedded(m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func embGenerate(t *testing.T, e *Embedded, req Request) []Completion {
	t.Helper()
	cs, err := e.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := max(req.N, 1)
	if len(cs) != want {
		t.Fatalf("%d completions, want %d", len(cs), want)
	}
	for i, c := range cs {
		if len(c.TokenIDs) != len(c.Tokens) || len(c.TokenIDs) != len(c.Logprobs) {
			t.Fatalf("completion %d: %d token ids, %d tokens, %d logprobs", i, len(c.TokenIDs), len(c.Tokens), len(c.Logprobs))
		}
		if c.FinishReason != "stop" && c.FinishReason != "length" {
			t.Fatalf("completion %d: finish reason %q", i, c.FinishReason)
		}
	}
	return cs
}

func TestEmbeddedCompletions(t *testing.T) {
	e := newEmbedded(t, embScripted(t))
	tests := []struct {
		name   string
		req    Request
		text   string
		tokens string // the tokens' texts, joined
		finish string
		stop   string
	}{
		{"eos", Request{Prompt: "Q1:"}, "ab<code>x</code>cd", "ab<code>x</code>cd<|endoftext|>", "stop", ""},
		{"other prompt", Request{Prompt: "Q2:", Logprobs: true}, "hello!", "hello!<|endoftext|>", "stop", ""},
		{"stop sequence", Request{Prompt: "Q1:", Stop: []string{"</code>"}}, "ab<code>x", "ab<code>x</code>", "stop", "</code>"},
		{"stop inside a token", Request{Prompt: "Q1:", Stop: []string{"ode"}}, "ab<c", "ab<code>", "stop", "ode"},
		{"several stops", Request{Prompt: "Q2:", Stop: []string{"!", "ll"}}, "he", "hell", "stop", "ll"},
		{"length", Request{Prompt: "Q2:", MaxTokens: 2}, "he", "he", "length", ""},
		{"stop at the limit", Request{Prompt: "Q2:", MaxTokens: 4, Stop: []string{"ll"}}, "he", "hell", "stop", "ll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := embGenerate(t, e, tt.req)[0]
			if c.Text != tt.text || c.FinishReason != tt.finish || c.StopSequence != tt.stop {
				t.Errorf("text %q finish %q stop %q, want %q %q %q", c.Text, c.FinishReason, c.StopSequence, tt.text, tt.finish, tt.stop)
			}
			if got := strings.Join(c.Tokens, ""); got != tt.tokens {
				t.Errorf("tokens %q, want %q", got, tt.tokens)
			}
			if ids := e.tok.Encode(tt.tokens); !slices.Equal(c.TokenIDs, ids) {
				t.Errorf("token ids %v, want %v", c.TokenIDs, ids)
			}
			for i, lp := range c.Logprobs {
				if !(lp <= 0) || lp < -1 { // greedy on a model that knows its lines
					t.Errorf("token %d (%q): logprob %g", i, c.Tokens[i], lp)
				}
			}
		})
	}
}

// TestEmbeddedLogprobs: the reported log-probabilities are those of a
// full forward over the prompt and the sampled tokens, untempered.
func TestEmbeddedLogprobs(t *testing.T) {
	m := embRandomModel(t)
	e := newEmbedded(t, m)
	seed := int64(3)
	for _, req := range []Request{
		{Prompt: "Solve 2+2.", MaxTokens: 20, Temperature: 1, N: 2},
		{Prompt: "Solve 2+2.", MaxTokens: 20, Temperature: 0.6, TopP: 0.8, Seed: &seed},
		{Prompt: "x", MaxTokens: 10},
	} {
		prompt := append([]int{model.BOS}, m.Tokenizer().Encode(req.Prompt)...)
		for _, c := range embGenerate(t, e, req) {
			outs, err := m.Forward([][]int{append(slices.Clone(prompt), c.TokenIDs...)})
			if err != nil {
				t.Fatal(err)
			}
			for i, lp := range c.Logprobs {
				if want := float64(outs[0].Logp[len(prompt)-1+i]); math.Abs(lp-want) > 1e-4 {
					t.Fatalf("%+v: token %d: logprob %g, forward %g", req, i, lp, want)
				}
			}
		}
	}
}

// TestEmbeddedSeed: with a seed, completion i is the one a request for a
// single completion with Seed+i gives, bit for bit, also under load.
func TestEmbeddedSeed(t *testing.T) {
	e := newEmbedded(t, embRandomModel(t))
	seed := func(s int64) *int64 { return &s }
	req := Request{Prompt: "Q:", MaxTokens: 24, Temperature: 1, N: 3, Seed: seed(10)}
	a := embGenerate(t, e, req)
	// The same again, with other requests running concurrently.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := e.Generate(context.Background(), Request{Prompt: "Q:", MaxTokens: 24, Temperature: 1}); err != nil {
				t.Error(err)
			}
		})
	}
	b := embGenerate(t, e, req)
	wg.Wait()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("one seed, two results:\n%+v\n%+v", a, b)
	}
	for i := range 3 {
		one := embGenerate(t, e, Request{Prompt: "Q:", MaxTokens: 24, Temperature: 1, Seed: seed(10 + int64(i))})[0]
		if !reflect.DeepEqual(one, a[i]) {
			t.Errorf("completion %d of N=3 with seed 10 differs from N=1 with seed %d", i, 10+i)
		}
	}
	if reflect.DeepEqual(a[0].TokenIDs, a[1].TokenIDs) && reflect.DeepEqual(a[1].TokenIDs, a[2].TokenIDs) {
		t.Error("three seeds gave the same tokens")
	}
}

// TestEmbeddedConcurrent runs many requests at once (the rollout
// engine's load), under the race detector in CI: the seeded ones must
// give what they give alone, the others must be well formed, and greedy
// ones the same text as alone.
func TestEmbeddedConcurrent(t *testing.T) {
	m := embRandomModel(t)
	e := newEmbedded(t, m)
	alone := newEmbedded(t, m, EmbeddedWorkers(1), EmbeddedMaxBatch(1), EmbeddedPrefixCache(0))
	type job struct {
		req  Request
		want []Completion
	}
	var jobs []job
	for i := range 24 {
		s := int64(i)
		req := Request{Prompt: fmt.Sprintf("problem %d: ", i%5), MaxTokens: 16, Temperature: 1, TopP: 0.9}
		switch i % 3 {
		case 0:
			req.Seed = &s
		case 1:
			req.Temperature = 0
		}
		jobs = append(jobs, job{req: req, want: embGenerate(t, alone, req)})
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			cs, err := e.Generate(context.Background(), j.req)
			if err != nil {
				t.Error(err)
				return
			}
			c := cs[0]
			switch {
			case j.req.Seed != nil:
				if !reflect.DeepEqual(cs, j.want) {
					t.Errorf("seeded %q: %q concurrently, %q alone", j.req.Prompt, c.Text, j.want[0].Text)
				}
			case j.req.Temperature == 0:
				// Batching changes rounding only, not a greedy choice on
				// a model without near ties.
				if c.Text != j.want[0].Text {
					t.Errorf("greedy %q: %q concurrently, %q alone", j.req.Prompt, c.Text, j.want[0].Text)
				}
			default:
				if len(c.TokenIDs) == 0 || len(c.TokenIDs) > 16 {
					t.Errorf("%q: %d tokens", j.req.Prompt, len(c.TokenIDs))
				}
			}
		})
	}
	wg.Wait()
}

// TestEmbeddedPrefixCache: a request continuing an earlier one (prompt +
// response + tool output) reuses its keys and values, with the same
// result as without the cache; a weight update invalidates them.
func TestEmbeddedPrefixCache(t *testing.T) {
	m := embRandomModel(t).Clone()
	e := newEmbedded(t, m)
	plain := newEmbedded(t, m, EmbeddedPrefixCache(0))
	prompt := "Compute 6*7 with code. "
	first := embGenerate(t, e, Request{Prompt: prompt, MaxTokens: 12})[0]
	next := Request{Prompt: prompt + first.Text + "<interpreter>42</interpreter>", MaxTokens: 12}
	before := e.reused.Load()
	got := embGenerate(t, e, next)[0]
	reused := e.reused.Load() - before
	if minReuse := int64(len(prompt)); reused < minReuse {
		t.Errorf("reused %d tokens of the earlier request, want at least the prompt's %d", reused, minReuse)
	}
	if want := embGenerate(t, plain, next)[0]; got.Text != want.Text {
		t.Errorf("with the prefix cache %q, without %q", got.Text, want.Text)
	}

	// Change the weights: cached prefixes must not be used.
	opt, err := model.NewAdamW(m, model.AdamWConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m.ZeroGrad()
	seq := append([]int{model.BOS}, m.Tokenizer().Encode("something else entirely")...)
	if err := m.Accumulate([][]int{seq}, func(_ int, out model.Output) model.Grads {
		g := make([]float32, len(out.Logp))
		for i := range g {
			g[i] = -1
		}
		return model.Grads{Logp: g}
	}); err != nil {
		t.Fatal(err)
	}
	opt.Step(0.05)
	got = embGenerate(t, e, next)[0]
	if want := embGenerate(t, plain, next)[0]; got.Text != want.Text {
		t.Errorf("after a weight update: with the prefix cache %q, without %q", got.Text, want.Text)
	}
}

func TestEmbeddedErrors(t *testing.T) {
	e := newEmbedded(t, embRandomModel(t))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		req  Request
		want string
	}{
		{"negative n", context.Background(), Request{Prompt: "x", N: -1}, "n -1"},
		{"negative max tokens", context.Background(), Request{Prompt: "x", MaxTokens: -1}, "max tokens"},
		{"temperature", context.Background(), Request{Prompt: "x", Temperature: -0.5}, "temperature"},
		{"top-p", context.Background(), Request{Prompt: "x", TopP: 2}, "top_p"},
		{"prompt too long", context.Background(), Request{Prompt: strings.Repeat("x", 63)}, "leave no room"},
		{"canceled", canceled, Request{Prompt: "x"}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Generate(tt.ctx, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Generate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	_, err := e.Generate(canceled, Request{Prompt: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v is not context.Canceled", err)
	}

	// Cancelled mid-generation: Generate returns promptly with the error.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := e.Generate(ctx, Request{Prompt: "x", N: 4, Temperature: 1})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled mid-way: %v", err)
		}
	})
	cancel()
	wg.Wait()

	for _, opt := range []EmbeddedOption{EmbeddedWorkers(0), EmbeddedMaxBatch(0), EmbeddedPrefixCache(-1)} {
		if _, err := NewEmbedded(embRandomModel(t), opt); err == nil {
			t.Error("NewEmbedded accepted a bad option")
		}
	}
	if _, err := NewEmbedded(nil); err == nil {
		t.Error("NewEmbedded accepted a nil model")
	}
	// The context fills up: "length".
	c := embGenerate(t, e, Request{Prompt: strings.Repeat("y", 60), Temperature: 1})[0]
	if len(c.TokenIDs) > 3 || (len(c.TokenIDs) == 3 && c.FinishReason != "length") {
		t.Errorf("%d tokens, finish %q after 61 of 64 positions", len(c.TokenIDs), c.FinishReason)
	}
}

// BenchmarkEmbedded measures the policy's sampling throughput under the
// rollout engine's load: 64 concurrent requests of up to 128 tokens
// after a ~70-token prompt, on the d=128, 4-layer model of the model
// package's benchmarks; batched (the default) and one sequence per step.
func BenchmarkEmbedded(b *testing.B) {
	m, err := model.New(model.Config{HiddenSize: 128, IntermediateSize: 344, NumHiddenLayers: 4, NumAttentionHeads: 4, MaxPositionEmbeddings: 256}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts []EmbeddedOption
	}{{"batched", nil}, {"unbatched", []EmbeddedOption{EmbeddedMaxBatch(1)}}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEmbedded(m, bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			var tokens atomic.Int64
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range 64 {
					wg.Go(func() {
						cs, err := e.Generate(context.Background(), Request{
							Prompt:    fmt.Sprintf("Problem %d: find the sum of the first %d odd numbers. Use code.", i, i+10),
							MaxTokens: 128, Temperature: 1, TopP: 0.95,
						})
						if err != nil {
							b.Error(err)
							return
						}
						tokens.Add(int64(len(cs[0].TokenIDs)))
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(tokens.Load())/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
