package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Finish reasons of a Generation.
const (
	FinishStop   = "stop"   // EOS or a stop sequence
	FinishLength = "length" // MaxTokens, or the context is full
)

// Sampling sets how Generate picks tokens.
type Sampling struct {
	// Temperature divides the logits; 0 is greedy (argmax).
	Temperature float64
	// TopP keeps the smallest set of most likely tokens whose probability
	// (after temperature) reaches TopP; 0 or 1 keeps all.
	TopP float64
	// MaxTokens bounds the new tokens; 0: until the context is full.
	MaxTokens int
	// Stop ends the generation as soon as the decoded text of the new
	// tokens contains one of these strings.
	Stop []string
	// Rand is the source of randomness; nil: a randomly seeded one.
	Rand *rand.Rand
	// Reproducible makes a Decoder run this generation's steps alone, not
	// batched with others, so that a given Rand seed, prompt and empty
	// cache give the same tokens and log-probabilities bit for bit
	// whatever else runs. Model.Generate, which does not batch, always is.
	Reproducible bool
}

// Generation is the result of Generate.
type Generation struct {
	// Tokens are all the sampled tokens, including a final EOS and the
	// tokens of a stop sequence. Logprobs[i] is log p(Tokens[i]) under the
	// model's untempered distribution (temperature 1, no top-p): what a
	// policy-gradient ratio needs.
	Tokens   []int
	Logprobs []float32
	// Text is the decoded text of Tokens without the EOS and cut where the
	// stop sequence begins (OpenAI's semantics).
	Text string
	// Finish is FinishStop or FinishLength; StopSequence the stop string
	// that ended the generation, if one did.
	Finish       string
	StopSequence string
}

// Generate samples a continuation of prompt. A non-nil cache is reused:
// its tokens that are a prefix of prompt are kept and only the rest is
// fed (a stale cache is emptied first); afterwards it holds the prompt
// and the generated tokens but the last. ctx is checked between tokens.
func (m *Model) Generate(ctx context.Context, c *Cache, prompt []int, s Sampling) (*Generation, error) {
	g, err := m.generate(ctx, c, prompt, s, direct{})
	if err != nil {
		return nil, fmt.Errorf("model: generate: %w", err)
	}
	return g, nil
}

// stepper runs a generation's forward passes: on the calling goroutine
// (direct), or through a Decoder's workers.
type stepper interface {
	// prefill appends tokens to c and returns the last one's logits.
	prefill(ctx context.Context, c *Cache, tokens []int) ([]float32, error)
	// decode appends one sampled token to c.
	decode(ctx context.Context, c *Cache, token int) ([]float32, error)
}

type direct struct{}

func (direct) prefill(_ context.Context, c *Cache, tokens []int) ([]float32, error) {
	return c.append(tokens)
}

func (direct) decode(_ context.Context, c *Cache, token int) ([]float32, error) {
	return c.append([]int{token})
}

func (m *Model) generate(ctx context.Context, c *Cache, prompt []int, s Sampling, run stepper) (*Generation, error) {
	switch {
	case len(prompt) == 0:
		return nil, errors.New("empty prompt (start it with BOS)")
	case !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0):
		return nil, fmt.Errorf("temperature %g must be finite and non-negative", s.Temperature)
	case !(s.TopP >= 0 && s.TopP <= 1):
		return nil, fmt.Errorf("top_p %g must be in [0, 1]", s.TopP)
	case s.MaxTokens < 0:
		return nil, fmt.Errorf("max tokens %d is negative", s.MaxTokens)
	case c != nil && c.m != m:
		return nil, errors.New("the cache belongs to another model")
	}
	if err := m.checkTokens(prompt); err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	limit := m.cfg.MaxPositionEmbeddings - len(prompt)
	if limit <= 0 {
		return nil, fmt.Errorf("the prompt's %d tokens leave no room in the context of %d", len(prompt), m.cfg.MaxPositionEmbeddings)
	}
	if s.MaxTokens > 0 {
		limit = min(limit, s.MaxTokens)
	}
	if c == nil {
		c = m.NewCache()
	}
	if c.Stale() {
		c.Truncate(0)
	}
	// Keep the common prefix, but feed at least the prompt's last token:
	// its logits are needed.
	common := 0
	for common < min(c.Len(), len(prompt)-1) && c.tokens[common] == prompt[common] {
		common++
	}
	c.Truncate(common)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logits, err := run.prefill(ctx, c, prompt[common:])
	if err != nil {
		return nil, err
	}

	sm := sampler{temp: s.Temperature, topP: s.TopP, rng: s.Rand}
	if sm.rng == nil && sm.temp > 0 {
		sm.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	var stops []string
	for _, st := range s.Stop {
		if st != "" {
			stops = append(stops, st)
		}
	}
	g := &Generation{Finish: FinishLength}
	var text strings.Builder
	cut := -1
	for {
		tok, lp := sm.sample(logits)
		g.Tokens = append(g.Tokens, tok)
		g.Logprobs = append(g.Logprobs, lp)
		if tok == EOS {
			g.Finish = FinishStop
			break
		}
		prev := text.Len()
		m.tok.appendText(&text, tok)
		if cut, g.StopSequence = findStop(text.String(), prev, stops); cut >= 0 {
			g.Finish = FinishStop
			break
		}
		if len(g.Tokens) == limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if logits, err = run.decode(ctx, c, tok); err != nil {
			return nil, err
		}
	}
	g.Text = text.String()
	if cut >= 0 {
		g.Text = g.Text[:cut]
	}
	return g, nil
}

// findStop returns where the earliest stop sequence that ends after
// text[:prev] begins in text (-1 if none) and which one it is. Matches
// wholly inside text[:prev] were found on earlier calls.
func findStop(text string, prev int, stops []string) (int, string) {
	best, which := -1, ""
	for _, s := range stops {
		from := max(0, prev-len(s)+1)
		if i := strings.Index(text[from:], s); i >= 0 && (best < 0 || from+i < best) {
			best, which = from+i, s
		}
	}
	return best, which
}

// sampler draws tokens from logits.
type sampler struct {
	temp, topP float64
	rng        *rand.Rand
	w          []float64
	idx        []int
	keys       []uint64
}

// sample returns a token and its log-probability under the untempered
// distribution.
func (s *sampler) sample(z []float32) (int, float32) {
	lse, _ := logSoftmax(z, nil)
	tok := 0
	if s.temp == 0 {
		for i, v := range z {
			if v > z[tok] {
				tok = i
			}
		}
		return tok, float32(float64(z[tok]) - lse)
	}
	mx := float64(slices.Max(z))
	s.w = s.w[:0]
	var total float64
	for _, v := range z {
		e := math.Exp((float64(v) - mx) / s.temp)
		s.w = append(s.w, e)
		total += e
	}
	s.idx = s.idx[:0]
	if !(s.topP > 0 && s.topP < 1) {
		for i := range z {
			s.idx = append(s.idx, i)
		}
		tok = s.draw(s.idx, total)
		return tok, float32(float64(z[tok]) - lse)
	}
	// Sort by decreasing weight, ties by id, as packed integers: the
	// weights are positive, so their float32 bits order like them.
	s.keys = s.keys[:0]
	for i, w := range s.w {
		s.keys = append(s.keys, uint64(^math.Float32bits(float32(w)))<<32|uint64(i))
	}
	slices.Sort(s.keys)
	var kept float64
	for _, k := range s.keys {
		if kept >= s.topP*total {
			break
		}
		i := int(uint32(k))
		kept += s.w[i]
		s.idx = append(s.idx, i)
	}
	tok = s.draw(s.idx, kept)
	return tok, float32(float64(z[tok]) - lse)
}

// draw picks one of the tokens ids with probability proportional to its
// weight; total is their sum. Rounding can leave u past the last weight:
// the last token of positive weight is then taken, never one of weight 0.
func (s *sampler) draw(ids []int, total float64) int {
	u := s.rng.Float64() * total
	tok := ids[0]
	for _, i := range ids {
		w := s.w[i]
		if w <= 0 {
			continue
		}
		tok = i
		if u < w {
			break
		}
		u -= w
	}
	return tok
}
