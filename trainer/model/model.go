package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Model is a Llama-style decoder-only transformer with its gradient
// buffers. See the package documentation for what may run concurrently.
type Model struct {
	cfg Config
	tok *Tokenizer

	// params lists every tensor in a fixed order (that of the
	// checkpoint's names, the optimizer's state and the gradients).
	params []*tensor
	embed  *tensor
	layers []layer
	norm   *tensor
	lmHead *tensor
	value  *tensor // nil without a value head

	// grads[i] is d(loss)/d(params[i]); nil until first needed, so that a
	// frozen reference model costs only its weights.
	grads [][]float32

	// ropeCos and ropeSin are [max_position_embeddings, head_dim/2].
	ropeCos, ropeSin []float32

	// version counts weight updates; a Cache built under another version
	// holds stale keys and values and is discarded.
	version atomic.Uint64

	// workers overrides GOMAXPROCS as the number of data-parallel workers
	// (tests use 1 for a serial reference).
	workers int

	mu   sync.Mutex
	pool []*worker // idle workers, kept between calls for their buffers
}

type tensor struct {
	name  string
	shape []int
	data  []float32
	idx   int  // position in Model.params
	decay bool // AdamW applies weight decay (not to norm weights)
}

type layer struct {
	inNorm, q, k, v, o, postNorm, gate, up, down *tensor
}

// New returns a model with freshly initialised weights: normal(0,
// initializer_range), o_proj and down_proj scaled by 1/sqrt(2·layers) so
// that the residual stream does not grow with depth, norms 1. The same
// config and seed give the same weights.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	std := m.cfg.InitializerRange
	scaled := std / math.Sqrt(2*float64(m.cfg.NumHiddenLayers))
	for _, p := range m.params {
		switch {
		case !p.decay: // norm weights
			for i := range p.data {
				p.data[i] = 1
			}
		default:
			s := std
			if p.isOutputProjection() {
				s = scaled
			}
			for i := range p.data {
				p.data[i] = float32(rng.NormFloat64() * s)
			}
		}
	}
	return m, nil
}

func (p *tensor) isOutputProjection() bool {
	return strings.HasSuffix(p.name, ".self_attn.o_proj.weight") || strings.HasSuffix(p.name, ".mlp.down_proj.weight")
}

// newModel allocates a zeroed model for cfg.
func newModel(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: config: %w", err)
	}
	cfg = cfg.Normalize()
	m := &Model{cfg: cfg, tok: NewTokenizer()}
	d, f, v := cfg.HiddenSize, cfg.IntermediateSize, cfg.VocabSize
	add := func(name string, decay bool, shape ...int) *tensor {
		n := 1
		for _, s := range shape {
			n *= s
		}
		t := &tensor{name: name, shape: shape, data: make([]float32, n), idx: len(m.params), decay: decay}
		m.params = append(m.params, t)
		return t
	}
	m.embed = add("model.embed_tokens.weight", true, v, d)
	for i := range cfg.NumHiddenLayers {
		pre := fmt.Sprintf("model.layers.%d.", i)
		m.layers = append(m.layers, layer{
			inNorm:   add(pre+"input_layernorm.weight", false, d),
			q:        add(pre+"self_attn.q_proj.weight", true, d, d),
			k:        add(pre+"self_attn.k_proj.weight", true, d, d),
			v:        add(pre+"self_attn.v_proj.weight", true, d, d),
			o:        add(pre+"self_attn.o_proj.weight", true, d, d),
			postNorm: add(pre+"post_attention_layernorm.weight", false, d),
			gate:     add(pre+"mlp.gate_proj.weight", true, f, d),
			up:       add(pre+"mlp.up_proj.weight", true, f, d),
			down:     add(pre+"mlp.down_proj.weight", true, d, f),
		})
	}
	m.norm = add("model.norm.weight", false, d)
	m.lmHead = add("lm_head.weight", true, v, d)
	if cfg.ValueHead {
		m.value = add("value_head.weight", true, 1, d)
	}
	m.ropeCos, m.ropeSin = ropeTables(cfg.MaxPositionEmbeddings, cfg.HeadDim, cfg.RopeTheta)
	return m, nil
}

// ropeTables computes cos and sin of pos·inv_freq[i], inv_freq[i] =
// theta^(-2i/head_dim), rounding as transformers does (inv_freq and the
// product in float32) so that the angles match its LlamaRotaryEmbedding.
func ropeTables(maxPos, headDim int, theta float64) (cos, sin []float32) {
	half := headDim / 2
	cos = make([]float32, maxPos*half)
	sin = make([]float32, maxPos*half)
	inv := make([]float32, half)
	for i := range inv {
		inv[i] = float32(1 / math.Pow(theta, float64(2*i)/float64(headDim)))
	}
	for pos := range maxPos {
		for i, f := range inv {
			a := float64(float32(pos) * f)
			cos[pos*half+i] = float32(math.Cos(a))
			sin[pos*half+i] = float32(math.Sin(a))
		}
	}
	return cos, sin
}

// Config returns the model's (normalized) configuration.
func (m *Model) Config() Config {
	c := m.cfg
	c.Architectures = append([]string(nil), c.Architectures...)
	return c
}

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// NumParams is the number of parameters.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params {
		n += len(p.data)
	}
	return n
}

// Clone returns a deep copy of the weights, without gradients: a frozen
// reference for KL penalties, or a snapshot.
func (m *Model) Clone() *Model {
	c, err := newModel(m.cfg)
	if err != nil {
		panic(err) // m's config was valid
	}
	c.tok = m.tok
	c.workers = m.workers
	for i, p := range m.params {
		copy(c.params[i].data, p.data)
	}
	return c
}

// ensureGrads allocates the gradient buffers on first use.
func (m *Model) ensureGrads() {
	if m.grads != nil {
		return
	}
	m.grads = make([][]float32, len(m.params))
	for i, p := range m.params {
		m.grads[i] = make([]float32, len(p.data))
	}
}

// ZeroGrad clears the gradient buffers.
func (m *Model) ZeroGrad() {
	m.ensureGrads()
	for _, g := range m.grads {
		clear(g)
	}
}

// GradNorm is the global L2 norm of the gradients, NaN or +Inf when a
// gradient is.
func (m *Model) GradNorm() float64 {
	var s float64
	for _, g := range m.grads {
		for _, v := range g {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales the gradients down so that their global norm is at
// most max and returns the norm before clipping. A NaN or infinite norm
// is returned as is and leaves the gradients alone: the step should be
// skipped.
func (m *Model) ClipGradNorm(max float64) float64 {
	norm := m.GradNorm()
	if math.IsNaN(norm) || math.IsInf(norm, 0) || norm <= max {
		return norm
	}
	scale := float32(max / (norm + 1e-6))
	for _, g := range m.grads {
		for i := range g {
			g[i] *= scale
		}
	}
	return norm
}

func (m *Model) numWorkers() int {
	if m.workers > 0 {
		return m.workers
	}
	return runtime.GOMAXPROCS(0)
}
