package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestCacheMatchesForward: decoding with the KV cache, in chunks and one
// token at a time, gives the full forward's logits.
func TestCacheMatchesForward(t *testing.T) {
	m := newModelT(t, tinyConfig(false), 31)
	roughen(m, 32)
	rng := rand.New(rand.NewPCG(33, 33))
	seq := randomSeqs(rng, 1, 40, 40, VocabSize)[0]
	w := m.getWorker()
	w.forward(seq)
	want := func(pos int) []float32 { return w.logits[pos*VocabSize : (pos+1)*VocabSize] }
	check := func(t *testing.T, pos int, got []float32) {
		t.Helper()
		for j := range got {
			if d := math.Abs(float64(got[j] - want(pos)[j])); d > 1e-4 {
				t.Fatalf("position %d, logit %d: cache %g, forward %g", pos, j, got[j], want(pos)[j])
			}
		}
	}
	for _, chunk := range []int{256, 3} {
		prefillChunk = chunk
		c := m.NewCache()
		logits, err := c.Append(seq[:7])
		if err != nil {
			t.Fatal(err)
		}
		check(t, 6, logits)
		for pos := 7; pos < len(seq)-1; pos++ {
			logits, err := c.Append(seq[pos : pos+1])
			if err != nil {
				t.Fatal(err)
			}
			check(t, pos, logits)
		}
		// Truncate to a prefix and branch: same numbers again.
		b := c.Clone()
		b.Truncate(20)
		if b.Len() != 20 || c.Len() != len(seq)-1 {
			t.Fatalf("lengths %d and %d after Clone and Truncate(20)", b.Len(), c.Len())
		}
		logits, err = b.Append(seq[20:30])
		if err != nil {
			t.Fatal(err)
		}
		check(t, 29, logits)
		if !slices.Equal(b.Tokens(), seq[:30]) {
			t.Fatal("Tokens() is not the fed tokens")
		}
	}
	prefillChunk = 256

	c := m.NewCache()
	if _, err := c.Append(make([]int, 65)); err == nil || !strings.Contains(err.Error(), "max_position_embeddings") {
		t.Errorf("Append past the context: %v", err)
	}
	if _, err := c.Append([]int{VocabSize}); err == nil {
		t.Error("Append of an id outside the vocabulary succeeded")
	}
	// A weight update makes the cache stale.
	if _, err := c.Append(seq[:5]); err != nil {
		t.Fatal(err)
	}
	opt, _ := NewAdamW(m, AdamWConfig{})
	opt.Step(0)
	if _, err := c.Append(seq[5:6]); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("Append after a weight update: %v, want a stale cache error", err)
	}
	if _, err := m.Generate(context.Background(), c, seq[:5], Sampling{MaxTokens: 1}); err != nil {
		t.Errorf("Generate did not reset a stale cache: %v", err)
	}
}

var (
	scriptOnce   sync.Once
	scriptModel  *Model
	scriptLosses []float64
)

// scripted returns a tiny model trained with AdamW to answer two prompts
// by heart, so that greedy generation is predictable, and its losses.
func scripted(t *testing.T) (*Model, []float64) {
	t.Helper()
	scriptOnce.Do(func() {
		m := newModelT(t, Config{HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 1, NumAttentionHeads: 2, MaxPositionEmbeddings: 64}, 41)
		var seqs [][]int
		for _, s := range scriptTexts {
			seqs = append(seqs, append(append([]int{BOS}, m.tok.Encode(s[0]+s[1])...), EOS))
		}
		scriptLosses = overfit(t, m, seqs, 80, 1e-2)
		scriptModel = m
	})
	if scriptModel == nil {
		t.Fatal("no scripted model")
	}
	return scriptModel, scriptLosses
}

// TestOverfit: a tiny model learns a tiny set. The digit after "Q" is a
// coin toss, so the loss cannot go below ln 2 over ~21 positions ≈ 0.066.
func TestOverfit(t *testing.T) {
	_, losses := scripted(t)
	first, last := losses[0], losses[len(losses)-1]
	t.Logf("loss %.3f → %.3f", first, last)
	if first < 5 || last > 0.1 {
		t.Fatalf("loss went from %.3f to %.3f; want from about ln(267) ≈ 5.6 to below 0.1", first, last)
	}
}

var scriptTexts = [][2]string{
	{"Q1:", "ab<code>x</code>cd"},
	{"Q2:", "hello!"},
}

func TestGenerate(t *testing.T) {
	m, _ := scripted(t)
	prompt := func(s string) []int { return append([]int{BOS}, m.tok.Encode(s)...) }
	tests := []struct {
		name       string
		prompt     string
		s          Sampling
		text       string
		tokens     string // the decoded tokens
		eos        bool
		finish     string
		stopString string
	}{
		{"eos", "Q1:", Sampling{}, "ab<code>x</code>cd", "ab<code>x</code>cd", true, FinishStop, ""},
		{"other prompt", "Q2:", Sampling{}, "hello!", "hello!", true, FinishStop, ""},
		{"stop token", "Q1:", Sampling{Stop: []string{"</code>"}}, "ab<code>x", "ab<code>x</code>", false, FinishStop, "</code>"},
		{"stop across tokens", "Q1:", Sampling{Stop: []string{"zz", "b<c"}}, "a", "ab<code>", false, FinishStop, "b<c"},
		{"earliest stop wins", "Q2:", Sampling{Stop: []string{"lo", "ell"}}, "h", "hell", false, FinishStop, "ell"},
		{"max tokens", "Q2:", Sampling{MaxTokens: 3}, "hel", "hel", false, FinishLength, ""},
		{"tiny top-p is greedy", "Q1:", Sampling{Temperature: 5, TopP: 1e-9, Rand: rand.New(rand.NewPCG(1, 2))}, "ab<code>x</code>cd", "ab<code>x</code>cd", true, FinishStop, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := m.Generate(context.Background(), nil, prompt(tt.prompt), tt.s)
			if err != nil {
				t.Fatal(err)
			}
			toks := g.Tokens
			if tt.eos {
				if toks[len(toks)-1] != EOS {
					t.Fatalf("tokens %v do not end with EOS", toks)
				}
				toks = toks[:len(toks)-1]
			}
			if got := m.tok.Decode(toks); got != tt.tokens {
				t.Errorf("tokens decode to %q, want %q", got, tt.tokens)
			}
			if g.Text != tt.text || g.Finish != tt.finish || g.StopSequence != tt.stopString {
				t.Errorf("got text %q finish %q stop %q, want %q %q %q", g.Text, g.Finish, g.StopSequence, tt.text, tt.finish, tt.stopString)
			}
			if len(g.Logprobs) != len(g.Tokens) {
				t.Errorf("%d logprobs for %d tokens", len(g.Logprobs), len(g.Tokens))
			}
		})
	}
}

// TestGenerateLogprobs: the log-probabilities of sampled tokens are the
// untempered ones a full forward gives, whatever the temperature, top-p
// and cache reuse.
func TestGenerateLogprobs(t *testing.T) {
	m := newModelT(t, tinyConfig(false), 51)
	roughen(m, 52)
	prompt := []int{BOS, 'x', 'y', 'z'}
	c := m.NewCache()
	for i, s := range []Sampling{
		{Temperature: 1, MaxTokens: 20},
		{Temperature: 0.7, TopP: 0.9, MaxTokens: 20},
		{Temperature: 1.5, TopP: 0.5, MaxTokens: 20},
		{MaxTokens: 20},
	} {
		s.Rand = rand.New(rand.NewPCG(uint64(i), 0))
		g, err := m.Generate(context.Background(), c, prompt, s)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := m.Forward([][]int{append(slices.Clone(prompt), g.Tokens...)})
		if err != nil {
			t.Fatal(err)
		}
		for j, lp := range g.Logprobs {
			if want := outs[0].Logp[len(prompt)-1+j]; math.Abs(float64(lp-want)) > 1e-4 {
				t.Fatalf("sampling %+v, token %d: logprob %g, forward %g", s, j, lp, want)
			}
		}
		if c.Len() != len(prompt)+len(g.Tokens)-1 {
			t.Errorf("the cache holds %d tokens, want prompt and generation but the last (%d)", c.Len(), len(prompt)+len(g.Tokens)-1)
		}
	}
}

func TestGenerateSeeded(t *testing.T) {
	m := newModelT(t, tinyConfig(false), 61)
	roughen(m, 62)
	gen := func(seed uint64) []int {
		g, err := m.Generate(context.Background(), nil, []int{BOS, 'q'}, Sampling{Temperature: 1, MaxTokens: 30, Rand: rand.New(rand.NewPCG(seed, 0))})
		if err != nil {
			t.Fatal(err)
		}
		return g.Tokens
	}
	a, b, c := gen(1), gen(1), gen(2)
	if !slices.Equal(a, b) {
		t.Errorf("one seed gave %v and %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2 gave the same %v", a)
	}
}

func TestGenerateErrors(t *testing.T) {
	m := newModelT(t, tinyConfig(false), 1)
	other := newModelT(t, tinyConfig(false), 1)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		c      *Cache
		prompt []int
		s      Sampling
		want   string
	}{
		{"empty prompt", ctx, nil, nil, Sampling{}, "empty prompt"},
		{"negative temperature", ctx, nil, []int{BOS}, Sampling{Temperature: -1}, "temperature"},
		{"top-p", ctx, nil, []int{BOS}, Sampling{TopP: 1.5}, "top_p"},
		{"full context", ctx, nil, make([]int, 64), Sampling{}, "no room"},
		{"bad id", ctx, nil, []int{BOS, 1000}, Sampling{}, "outside the vocabulary"},
		{"foreign cache", ctx, other.NewCache(), []int{BOS}, Sampling{}, "another model"},
		{"canceled", canceled, nil, []int{BOS}, Sampling{}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Generate(tt.ctx, tt.c, tt.prompt, tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Generate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	_, err := m.Generate(canceled, nil, []int{BOS}, Sampling{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Generate: %v is not context.Canceled", err)
	}
	// The context fills up: "length".
	g, err := m.Generate(ctx, nil, make([]int, 60), Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Tokens) > 4 || (len(g.Tokens) == 4 && g.Finish != FinishLength) {
		t.Errorf("%d tokens, finish %q from a 60-token prompt in a 64 context", len(g.Tokens), g.Finish)
	}
}

func TestSampler(t *testing.T) {
	// p = (1/4, 3/4) at temperature 1; top-p 0.5 keeps only the second.
	z := []float32{0, float32(math.Log(3))}
	tests := []struct {
		temp, topP float64
		want       float64 // frequency of token 1
	}{
		{1, 0, 0.75},
		{1, 1, 0.75},
		{1, 0.5, 1},
		{0.5, 0, 0.9}, // (3²)/(1+3²)
		{0, 0, 1},
	}
	for _, tt := range tests {
		s := sampler{temp: tt.temp, topP: tt.topP, rng: rand.New(rand.NewPCG(1, 1))}
		const n = 20000
		ones := 0
		for range n {
			tok, lp := s.sample(z)
			if want := math.Log([]float64{0.25, 0.75}[tok]); math.Abs(float64(lp)-want) > 1e-6 {
				t.Fatalf("logprob of %d is %g, want the untempered %g", tok, lp, want)
			}
			ones += tok
		}
		if f := float64(ones) / n; math.Abs(f-tt.want) > 0.015 {
			t.Errorf("temperature %g top-p %g: token 1 drawn %.3f of the time, want %.3f", tt.temp, tt.topP, f, tt.want)
		}
	}
}
