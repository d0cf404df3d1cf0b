package policy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/retool-rl/retool/trainer/model"
)

// DefaultPrefixCacheBytes is the memory the embedded policy keeps for
// the KV caches of prompts already seen.
const DefaultPrefixCacheBytes = 256 << 20

// Embedded is a Policy backed by the in-process model (trainer/model):
// the prompt, BOS prepended, is encoded with the model's byte-level
// tokenizer and each completion is sampled with a KV cache.
//
//   - Completion.Text excludes the stop sequence that ended it and the
//     EOS (OpenAI's semantics); TokenIDs, Tokens (each token's text; a
//     byte token may hold part of a UTF-8 character) and Logprobs cover
//     every sampled token, the stop sequence's and the EOS included,
//     since training needs them. Logprobs are under the untempered
//     distribution (temperature 1, no top-p), what a policy gradient's
//     ratio needs. FinishReason is "stop" (EOS, or a stop sequence, named
//     in StopSequence) or "length" (MaxTokens, or the context is full).
//     All are filled whether or not Request.Logprobs is set.
//   - MaxTokens 0 means up to the context length; TopP 0 means 1.
//   - With a Seed, completion i samples with Seed+i and runs alone with
//     fresh caches: the result is the same bit for bit whatever else is
//     running. Without one, the decode steps of concurrent requests are
//     batched into shared matrix products and the KV caches of earlier
//     requests are reused for a shared prefix (the rollout engine
//     resends prompt + response so far after each tool call), which
//     changes results only by rounding.
//
// It is safe for concurrent use; the forward passes run on a fixed set of
// workers (GOMAXPROCS by default) whatever the number of callers, and
// ctx is honoured between tokens. The model's weights must not change
// while a Generate is in flight; after an optimizer step, cached prefixes
// are recomputed automatically. Close releases the workers.
type Embedded struct {
	m        *model.Model
	tok      *model.Tokenizer
	dec      *model.Decoder
	maxBytes int64

	mu    sync.Mutex
	pool  []*model.Cache // idle caches, least recently used first
	bytes int64          // their memory

	// reused counts the prompt tokens whose keys and values came from
	// the prefix cache (for tests and diagnostics).
	reused atomic.Int64
}

var _ Policy = (*Embedded)(nil)

// EmbeddedOption configures NewEmbedded.
type EmbeddedOption func(*embeddedOptions)

type embeddedOptions struct {
	workers, maxBatch int
	cacheBytes        int64
}

// EmbeddedWorkers sets the number of forward passes that run at once
// (default GOMAXPROCS).
func EmbeddedWorkers(n int) EmbeddedOption { return func(o *embeddedOptions) { o.workers = n } }

// EmbeddedMaxBatch bounds the decode steps batched together (default
// model.DefaultMaxBatch; 1 turns batching off).
func EmbeddedMaxBatch(n int) EmbeddedOption { return func(o *embeddedOptions) { o.maxBatch = n } }

// EmbeddedPrefixCache sets the memory kept for reusable KV caches
// (default DefaultPrefixCacheBytes; 0 turns the prefix cache off).
func EmbeddedPrefixCache(bytes int64) EmbeddedOption {
	return func(o *embeddedOptions) { o.cacheBytes = bytes }
}

// NewEmbedded returns a policy sampling from m, and starts its workers.
func NewEmbedded(m *model.Model, opts ...EmbeddedOption) (*Embedded, error) {
	if m == nil {
		return nil, errors.New("policy: embedded: nil model")
	}
	o := embeddedOptions{workers: runtime.GOMAXPROCS(0), maxBatch: model.DefaultMaxBatch, cacheBytes: DefaultPrefixCacheBytes}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.workers < 1:
		return nil, fmt.Errorf("policy: embedded: %d workers; at least 1 is needed", o.workers)
	case o.maxBatch < 1:
		return nil, fmt.Errorf("policy: embedded: max batch %d; at least 1 is needed", o.maxBatch)
	case o.cacheBytes < 0:
		return nil, fmt.Errorf("policy: embedded: prefix cache of %d bytes is negative", o.cacheBytes)
	}
	return &Embedded{
		m: m, tok: m.Tokenizer(),
		dec:      m.NewDecoder(o.workers, o.maxBatch),
		maxBytes: o.cacheBytes,
	}, nil
}

// Close stops the workers and drops the cached prefixes. Generate calls
// in flight fail.
func (e *Embedded) Close() {
	e.dec.Close()
	e.mu.Lock()
	e.pool, e.bytes = nil, 0
	e.mu.Unlock()
}

// Generate samples req.N completions of req.Prompt.
func (e *Embedded) Generate(ctx context.Context, req Request) ([]Completion, error) {
	cs, err := e.generate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("policy: embedded: %w", err)
	}
	return cs, nil
}

func (e *Embedded) generate(ctx context.Context, req Request) ([]Completion, error) {
	n := max(req.N, 1)
	switch {
	case req.N < 0:
		return nil, fmt.Errorf("n %d is negative", req.N)
	case req.MaxTokens < 0:
		return nil, fmt.Errorf("max tokens %d is negative", req.MaxTokens)
	case !(req.Temperature >= 0) || math.IsInf(req.Temperature, 0):
		return nil, fmt.Errorf("temperature %g must be finite and non-negative", req.Temperature)
	case !(req.TopP >= 0 && req.TopP <= 1):
		return nil, fmt.Errorf("top_p %g must be in [0, 1]", req.TopP)
	}
	ids := append([]int{model.BOS}, e.tok.Encode(req.Prompt)...)
	if ctxLen := e.m.Config().MaxPositionEmbeddings; len(ids) >= ctxLen {
		return nil, fmt.Errorf("the prompt's %d tokens (BOS included) leave no room in the model's context of %d", len(ids), ctxLen)
	}

	// The prompt but its last token is computed once and shared: the
	// last token is fed by each sample, whose first logits it gives.
	seeded := req.Seed != nil
	var base *model.Cache
	if seeded {
		base = e.m.NewCache()
	} else {
		base = e.take(ids)
	}
	if common := commonPrefix(base.Tokens(), ids[:len(ids)-1]); common < len(ids)-1 {
		base.Truncate(common)
		if err := e.dec.Prefill(ctx, base, ids[common:len(ids)-1]); err != nil {
			return nil, err
		}
	} else {
		base.Truncate(len(ids) - 1)
	}

	// Clone before any sample starts changing base.
	caches := []*model.Cache{base}
	for range n - 1 {
		caches = append(caches, base.Clone())
	}
	out := make([]Completion, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range caches {
		s := model.Sampling{
			Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens, Stop: req.Stop,
			Reproducible: seeded,
		}
		if seeded {
			seed := uint64(*req.Seed + int64(i))
			s.Rand = rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
		}
		wg.Go(func() {
			g, err := e.dec.Generate(ctx, c, ids, s)
			if !seeded {
				e.put(c)
			}
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = e.completion(g)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err // rather than n copies of it
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Embedded) completion(g *model.Generation) Completion {
	c := Completion{
		Text:         g.Text,
		TokenIDs:     g.Tokens,
		Tokens:       make([]string, len(g.Tokens)),
		Logprobs:     make([]float64, len(g.Logprobs)),
		FinishReason: g.Finish,
		StopSequence: g.StopSequence,
	}
	for i, id := range g.Tokens {
		c.Tokens[i] = e.tok.Decode([]int{id})
	}
	for i, lp := range g.Logprobs {
		c.Logprobs[i] = float64(lp)
	}
	return c
}

func commonPrefix(a, b []int) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// take returns a cache for a prompt: the idle cache sharing the longest
// prefix with it, taken out of the pool when the prompt reuses most of
// it (a trajectory continuing after a tool call), else a copy of just the
// shared part (a new prompt after a common template: the other
// trajectory's cache stays), else an empty one.
func (e *Embedded) take(ids []int) *model.Cache {
	e.mu.Lock()
	defer e.mu.Unlock()
	best, bestLen := -1, 0
	kept := e.pool[:0]
	for _, c := range e.pool {
		if c.Stale() { // the weights changed: useless
			e.bytes -= c.MemoryBytes()
			continue
		}
		kept = append(kept, c)
		// Later entries are more recent: they win ties.
		if l := commonPrefix(c.Tokens(), ids); l > 0 && l >= bestLen {
			best, bestLen = len(kept)-1, l
		}
	}
	clear(e.pool[len(kept):])
	e.pool = kept
	if best < 0 {
		return e.m.NewCache()
	}
	e.reused.Add(int64(min(bestLen, len(ids)-1)))
	c := e.pool[best]
	if 2*bestLen >= c.Len() {
		e.pool = append(e.pool[:best], e.pool[best+1:]...)
		e.bytes -= c.MemoryBytes()
		return c
	}
	// Copying keys and values costs far less than recomputing them.
	cp := c.Clone()
	cp.Truncate(bestLen)
	e.pool = append(append(e.pool[:best], e.pool[best+1:]...), c) // now most recent
	return cp
}

// put returns a cache to the pool, evicting the least recently used
// beyond the memory budget.
func (e *Embedded) put(c *model.Cache) {
	size := c.MemoryBytes()
	if c.Len() == 0 || size > e.maxBytes {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pool = append(e.pool, c)
	e.bytes += size
	for e.bytes > e.maxBytes {
		e.bytes -= e.pool[0].MemoryBytes()
		e.pool[0] = nil
		e.pool = e.pool[1:]
	}
}
