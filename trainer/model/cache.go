package model

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/retool-rl/retool/trainer/linalg"
)

// prefillChunk bounds the tokens one Append step processes at once, and
// with it the scratch memory of a long prompt. A variable for tests.
var prefillChunk = 256

// Cache holds the keys and values of the tokens fed so far (a KV cache),
// so that each new token costs one position's work rather than the whole
// prefix's. A Cache is used by one goroutine at a time; different caches
// of one model may be used concurrently.
type Cache struct {
	m       *Model
	version uint64 // the model's weight version the entries were computed with
	tokens  []int
	// k and v hold, per layer and head (index layer·H + head), the
	// keys (rotated) and values, [len(tokens), head_dim].
	k, v   [][]float32
	logits []float32 // of the last token fed
}

// stepScratch is the scratch of Cache.step. It is pooled rather than
// kept in each Cache, so that idle caches hold only their keys and
// values.
type stepScratch struct {
	x, h, q, qh, kh, vh, oh, lse, att, gate, up, s []float32
}

var stepScratchPool = sync.Pool{New: func() any { return new(stepScratch) }}

// NewCache returns an empty cache for m.
func (m *Model) NewCache() *Cache {
	return &Cache{
		m:       m,
		version: m.version.Load(),
		k:       make([][]float32, len(m.layers)*m.cfg.NumAttentionHeads),
		v:       make([][]float32, len(m.layers)*m.cfg.NumAttentionHeads),
		logits:  make([]float32, m.cfg.VocabSize),
	}
}

// Len is the number of tokens in the cache.
func (c *Cache) Len() int { return len(c.tokens) }

// Tokens returns the tokens in the cache; the slice must not be modified.
func (c *Cache) Tokens() []int { return c.tokens[:len(c.tokens):len(c.tokens)] }

// Stale reports whether the weights changed (AdamW.Step) since the cache
// was filled; its entries are then wrong and Append refuses it until
// Truncate(0).
func (c *Cache) Stale() bool { return c.version != c.m.version.Load() }

// Truncate keeps the first n tokens (a shared prefix) and drops the rest.
// The logits of Append are not restored: append at least one token before
// reading them.
func (c *Cache) Truncate(n int) {
	n = max(0, min(n, len(c.tokens)))
	hd := c.m.cfg.HeadDim
	c.tokens = c.tokens[:n]
	for i := range c.k {
		c.k[i] = c.k[i][:n*hd]
		c.v[i] = c.v[i][:n*hd]
	}
	if n == 0 {
		c.version = c.m.version.Load()
	}
}

// Clone returns an independent copy (to branch several samples off one
// prompt).
func (c *Cache) Clone() *Cache {
	n := &Cache{
		m: c.m, version: c.version,
		tokens: append([]int(nil), c.tokens...),
		k:      make([][]float32, len(c.k)),
		v:      make([][]float32, len(c.v)),
		logits: append([]float32(nil), c.logits...),
	}
	for l := range c.k {
		n.k[l] = append([]float32(nil), c.k[l]...)
		n.v[l] = append([]float32(nil), c.v[l]...)
	}
	return n
}

// MemoryBytes is the memory the cache holds.
func (c *Cache) MemoryBytes() int64 {
	var n int
	for l := range c.k {
		n += cap(c.k[l]) + cap(c.v[l])
	}
	n += cap(c.logits)
	return 4*int64(n) + 8*int64(cap(c.tokens))
}

// Append feeds tokens (a prompt's prefill, or one sampled token) and
// returns the logits of the next-token distribution after the last of
// them. The returned slice belongs to the cache and is overwritten by the
// next Append.
func (c *Cache) Append(tokens []int) ([]float32, error) {
	logits, err := c.append(tokens)
	if err != nil {
		return nil, fmt.Errorf("model: cache: %w", err)
	}
	return logits, nil
}

func (c *Cache) append(tokens []int) ([]float32, error) {
	if err := c.check(tokens); err != nil {
		return nil, err
	}
	sc := stepScratchPool.Get().(*stepScratch)
	defer stepScratchPool.Put(sc)
	for len(tokens) > 0 {
		n := min(len(tokens), prefillChunk)
		c.step(tokens[:n], sc)
		tokens = tokens[n:]
	}
	return c.logits, nil
}

// check reports why tokens cannot be appended.
func (c *Cache) check(tokens []int) error {
	m := c.m
	switch {
	case len(tokens) == 0:
		return errors.New("no tokens to append")
	case c.Stale():
		return errors.New("stale: the weights changed since it was filled (Truncate(0) it)")
	case len(c.tokens)+len(tokens) > m.cfg.MaxPositionEmbeddings:
		return fmt.Errorf("%d tokens exceed max_position_embeddings %d", len(c.tokens)+len(tokens), m.cfg.MaxPositionEmbeddings)
	}
	for i, id := range tokens {
		if id < 0 || id >= m.cfg.VocabSize {
			return fmt.Errorf("token %d is id %d, outside the vocabulary [0, %d)", i, id, m.cfg.VocabSize)
		}
	}
	return nil
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// step feeds up to prefillChunk tokens. It does the arithmetic of
// worker.forward, so that cached decoding reproduces the training
// forward's numbers (to rounding: the matrix products' shapes differ).
func (c *Cache) step(tokens []int, sc *stepScratch) {
	m := c.m
	cfg := m.cfg
	n, p := len(tokens), len(c.tokens)
	d, f, H, hd := cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads, cfg.HeadDim
	sc.x, sc.h, sc.q, sc.att = grow(sc.x, n*d), grow(sc.h, n*d), grow(sc.q, n*d), grow(sc.att, n*d)
	sc.qh, sc.kh, sc.vh, sc.oh = grow(sc.qh, n*d), grow(sc.kh, n*d), grow(sc.vh, n*d), grow(sc.oh, n*d)
	sc.gate, sc.up, sc.lse, sc.s = grow(sc.gate, n*f), grow(sc.up, n*f), grow(sc.lse, n), grow(sc.s, n*(p+n))
	x, h, q, att := sc.x, sc.h, sc.q, sc.att
	for t, id := range tokens {
		copy(x[t*d:(t+1)*d], m.embed.data[id*d:(id+1)*d])
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	for l, ly := range m.layers {
		rmsNorm(h, nil, x, ly.inNorm.data, n, d, cfg.RMSNormEps)
		for _, pr := range []struct {
			dst  []float32
			wt   []float32
			rope bool
		}{{sc.qh, ly.q.data, true}, {sc.kh, ly.k.data, true}, {sc.vh, ly.v.data, false}} {
			linalg.MatMulBT(q, h, pr.wt, n, d, d, false)
			splitHeads(pr.dst, q, n, H, hd, n, 0)
			if pr.rope {
				for hh := range H {
					m.rope(pr.dst[hh*n*hd:(hh+1)*n*hd], p, n, false)
				}
			}
		}
		for hh := range H {
			i, o := l*H+hh, hh*n*hd
			c.k[i] = append(c.k[i], sc.kh[o:o+n*hd]...)
			c.v[i] = append(c.v[i], sc.vh[o:o+n*hd]...)
			attnBlock(sc.oh[o:], sc.lse, sc.qh[o:], c.k[i], c.v[i], n, p, hd, scale, sc.s)
		}
		mergeHeads(att, sc.oh, n, H, hd, n, 0)
		linalg.MatMulBT(x, att, ly.o.data, n, d, d, true)
		rmsNorm(h, nil, x, ly.postNorm.data, n, d, cfg.RMSNormEps)
		linalg.MatMulBT(sc.gate, h, ly.gate.data, n, d, f, false)
		linalg.MatMulBT(sc.up, h, ly.up.data, n, d, f, false)
		swiGLU(sc.gate, sc.gate, sc.up)
		linalg.MatMulBT(x, sc.gate, ly.down.data, n, f, d, true)
	}
	last := x[(n-1)*d : n*d]
	rmsNorm(h[:d], nil, last, m.norm.data, 1, d, cfg.RMSNormEps)
	linalg.MatMulBT(c.logits, h[:d], m.lmHead.data, 1, d, cfg.VocabSize, false)
	c.tokens = append(c.tokens, tokens...)
}

// batchScratch is decodeBatch's scratch, reused between calls.
type batchScratch struct {
	x, h, q, k, v, att, gate, up, logits, s, lse []float32
}

// decodeBatch feeds toks[i] to cs[i] (distinct caches of m, checked by
// the caller) as one batch: the linear layers run as [len(cs), d] matrix
// products, reading each weight once for the whole batch instead of once
// per sequence, which is what bounds single-token decoding.
func (m *Model) decodeBatch(cs []*Cache, toks []int, sc *batchScratch) {
	cfg := m.cfg
	B := len(cs)
	d, f, H, hd, V := cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads, cfg.HeadDim, cfg.VocabSize
	maxLen := 0
	for _, c := range cs {
		maxLen = max(maxLen, len(c.tokens)+1)
	}
	sc.x, sc.h, sc.q, sc.k, sc.v, sc.att = grow(sc.x, B*d), grow(sc.h, B*d), grow(sc.q, B*d), grow(sc.k, B*d), grow(sc.v, B*d), grow(sc.att, B*d)
	sc.gate, sc.up, sc.logits, sc.s, sc.lse = grow(sc.gate, B*f), grow(sc.up, B*f), grow(sc.logits, B*V), grow(sc.s, maxLen), grow(sc.lse, 1)
	x, h, q, k, v, att := sc.x, sc.h, sc.q, sc.k, sc.v, sc.att
	for i, id := range toks {
		copy(x[i*d:(i+1)*d], m.embed.data[id*d:(id+1)*d])
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	for l, ly := range m.layers {
		rmsNorm(h, nil, x, ly.inNorm.data, B, d, cfg.RMSNormEps)
		linalg.MatMulBT(q, h, ly.q.data, B, d, d, false)
		linalg.MatMulBT(k, h, ly.k.data, B, d, d, false)
		linalg.MatMulBT(v, h, ly.v.data, B, d, d, false)
		// One query per sequence: each head's slice of a row is already
		// contiguous, so the heads need no reshuffling.
		for i, c := range cs {
			p := len(c.tokens)
			for hh := range H {
				r := i*d + hh*hd
				m.rope(q[r:r+hd], p, 1, false)
				m.rope(k[r:r+hd], p, 1, false)
				j := l*H + hh
				c.k[j] = append(c.k[j], k[r:r+hd]...)
				c.v[j] = append(c.v[j], v[r:r+hd]...)
				attnBlock(att[r:r+hd], sc.lse, q[r:r+hd], c.k[j], c.v[j], 1, p, hd, scale, sc.s)
			}
		}
		linalg.MatMulBT(x, att, ly.o.data, B, d, d, true)
		rmsNorm(h, nil, x, ly.postNorm.data, B, d, cfg.RMSNormEps)
		linalg.MatMulBT(sc.gate, h, ly.gate.data, B, d, f, false)
		linalg.MatMulBT(sc.up, h, ly.up.data, B, d, f, false)
		swiGLU(sc.gate, sc.gate, sc.up)
		linalg.MatMulBT(x, sc.gate, ly.down.data, B, f, d, true)
	}
	rmsNorm(h, nil, x, m.norm.data, B, d, cfg.RMSNormEps)
	linalg.MatMulBT(sc.logits, h, m.lmHead.data, B, d, V, false)
	for i, c := range cs {
		copy(c.logits, sc.logits[i*V:(i+1)*V])
		c.tokens = append(c.tokens, toks[i])
	}
}
