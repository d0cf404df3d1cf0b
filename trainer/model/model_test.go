package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
)

// tinyConfig is small enough for numeric tests under the race detector.
func tinyConfig(valueHead bool) Config {
	return Config{
		HiddenSize: 16, IntermediateSize: 24, NumHiddenLayers: 2, NumAttentionHeads: 2,
		MaxPositionEmbeddings: 64, ValueHead: valueHead,
	}
}

func newModelT(t testing.TB, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// roughen makes the weights large and the norms uneven, so that the
// nonlinearities are exercised by a gradient check (with initial weights
// the model is nearly linear and its softmaxes nearly uniform).
func roughen(m *Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range m.params {
		for i := range p.data {
			if p.decay {
				p.data[i] = float32(rng.NormFloat64() * 0.3)
			} else {
				p.data[i] = float32(1 + 0.3*rng.NormFloat64())
			}
		}
	}
}

func randomSeqs(rng *rand.Rand, n, minLen, maxLen, vocab int) [][]int {
	seqs := make([][]int, n)
	for i := range seqs {
		s := make([]int, minLen+rng.IntN(maxLen-minLen+1))
		for j := range s {
			s[j] = rng.IntN(vocab)
		}
		seqs[i] = s
	}
	return seqs
}

// lossWeights are the w and u of the loss Σ w_t·Logp[t] + Σ u_t·Value[t].
type lossWeights struct{ w, u [][]float32 }

func randomWeights(rng *rand.Rand, seqs [][]int, value bool) lossWeights {
	var lw lossWeights
	for _, s := range seqs {
		w := make([]float32, len(s)-1)
		u := make([]float32, len(s)-1)
		for i := range w {
			w[i] = float32(rng.Float64()*2 - 1)
			u[i] = float32(rng.Float64()*2 - 1)
		}
		lw.w = append(lw.w, w)
		if value {
			lw.u = append(lw.u, u)
		} else {
			lw.u = append(lw.u, nil)
		}
	}
	return lw
}

func (lw lossWeights) grads(i int, _ Output) Grads { return Grads{Logp: lw.w[i], Value: lw.u[i]} }

func (lw lossWeights) loss(t testing.TB, m *Model, seqs [][]int) float64 {
	t.Helper()
	outs, err := m.Forward(seqs)
	if err != nil {
		t.Fatal(err)
	}
	var l float64
	for i, o := range outs {
		for j, v := range o.Logp {
			l += float64(lw.w[i][j]) * float64(v)
		}
		for j, v := range o.Value {
			l += float64(lw.u[i][j]) * float64(v)
		}
	}
	return l
}

// TestGradCheck compares every parameter's gradient from Accumulate with
// central finite differences of the loss, on the coordinates of largest
// gradient and on random ones, in float32 with steps and a tolerance
// well above float32's rounding noise.
func TestGradCheck(t *testing.T) {
	defer func(n int) { attnBlockRows = n }(attnBlockRows)
	for _, tt := range []struct {
		value     bool
		blockRows int
	}{{false, 64}, {true, 64}, {true, 3}} {
		t.Run(fmt.Sprintf("value_head=%v,block=%d", tt.value, tt.blockRows), func(t *testing.T) {
			attnBlockRows = tt.blockRows
			if worst := gradCheck(t, tt.value, 1); worst > 1 {
				t.Errorf("worst error %.2f× the tolerance", worst)
			}
		})
	}
}

// gradCheck checks a roughened tiny model's gradients and returns the
// worst error as a multiple of the tolerance.
func gradCheck(t *testing.T, value bool, seed uint64) float64 {
	t.Helper()
	m := newModelT(t, tinyConfig(value), seed)
	roughen(m, seed+1)
	rng := rand.New(rand.NewPCG(seed+2, 3))
	// Few distinct tokens so that embedding rows get gradients from
	// several positions.
	seqs := randomSeqs(rng, 3, 4, 9, 20)
	lw := randomWeights(rng, seqs, value)
	m.ZeroGrad()
	if err := m.Accumulate(seqs, lw.grads); err != nil {
		t.Fatal(err)
	}
	const eps = 1e-2
	worst := 0.0
	for _, p := range m.params {
		g := m.grads[p.idx]
		coords := []int{argmaxAbs(g)}
		for range 3 {
			coords = append(coords, rng.IntN(len(g)))
		}
		for _, c := range coords {
			// Richardson extrapolation of two central differences cancels
			// their eps² error: some coordinates (an embedding feeding an
			// RMSNorm) curve sharply.
			diff := func(eps float32) float64 {
				old := p.data[c]
				p.data[c] = old + eps
				lp := lw.loss(t, m, seqs)
				p.data[c] = old - eps
				lm := lw.loss(t, m, seqs)
				p.data[c] = old
				return (lp - lm) / float64(2*eps)
			}
			num := (4*diff(eps/2) - diff(eps)) / 3
			ana := float64(g[c])
			tol := 1e-3 + 1e-2*math.Max(math.Abs(num), math.Abs(ana))
			if e := math.Abs(num-ana) / tol; e > 1 {
				t.Errorf("%s[%d]: backward %.6f, finite differences %.6f", p.name, c, ana, num)
			} else {
				worst = math.Max(worst, e)
			}
		}
		if maxAbs := math.Abs(float64(g[argmaxAbs(g)])); maxAbs < 1e-3 {
			t.Errorf("%s: largest gradient %g; the check would be vacuous", p.name, maxAbs)
		}
	}
	return worst
}

func argmaxAbs(g []float32) int {
	best := 0
	for i, v := range g {
		if math.Abs(float64(v)) > math.Abs(float64(g[best])) {
			best = i
		}
	}
	return best
}

func gradsCopy(m *Model) [][]float32 {
	out := make([][]float32, len(m.grads))
	for i, g := range m.grads {
		out[i] = append([]float32(nil), g...)
	}
	return out
}

func accumulate(t *testing.T, m *Model, seqs [][]int, fn func(int, Output) Grads) [][]float32 {
	t.Helper()
	m.ZeroGrad()
	if err := m.Accumulate(seqs, fn); err != nil {
		t.Fatal(err)
	}
	return gradsCopy(m)
}

// TestMaskedPositionHasNoGradient: a position whose d(loss)/d(Logp) is 0
// contributes nothing, so its target token can change freely.
func TestMaskedPositionHasNoGradient(t *testing.T) {
	m := newModelT(t, tinyConfig(true), 4)
	roughen(m, 5)
	rng := rand.New(rand.NewPCG(6, 6))
	seqs := randomSeqs(rng, 1, 10, 10, VocabSize)
	lw := randomWeights(rng, seqs, false)
	last := len(seqs[0]) - 2
	lw.w[0][last] = 0

	base := accumulate(t, m, seqs, lw.grads)
	// The last token is only ever a target, here a masked one.
	seqs[0][len(seqs[0])-1] = (seqs[0][len(seqs[0])-1] + 1) % VocabSize
	changed := accumulate(t, m, seqs, lw.grads)
	for i := range base {
		for j := range base[i] {
			if base[i][j] != changed[i][j] {
				t.Fatalf("%s[%d]: %g with one target, %g with another, though its position is masked", m.params[i].name, j, base[i][j], changed[i][j])
			}
		}
	}
	// All positions masked: no gradient at all.
	zero := lossWeights{w: [][]float32{make([]float32, len(seqs[0])-1)}, u: [][]float32{make([]float32, len(seqs[0])-1)}}
	for i, g := range accumulate(t, m, seqs, zero.grads) {
		for j, v := range g {
			if v != 0 {
				t.Fatalf("%s[%d] = %g with every position masked", m.params[i].name, j, v)
			}
		}
	}
	// Gradients are linear in the weights: masking a position removes
	// exactly its own contribution.
	lw = randomWeights(rng, seqs, true)
	all := accumulate(t, m, seqs, lw.grads)
	k := 3
	wk := lw.w[0][k]
	lw.w[0][k] = 0
	without := accumulate(t, m, seqs, lw.grads)
	only := lossWeights{w: [][]float32{make([]float32, len(seqs[0])-1)}, u: [][]float32{nil}}
	only.w[0][k] = wk
	alone := accumulate(t, m, seqs, only.grads)
	for i := range all {
		for j := range all[i] {
			if d := all[i][j] - without[i][j] - alone[i][j]; math.Abs(float64(d)) > 1e-5+1e-4*math.Abs(float64(all[i][j])) {
				t.Fatalf("%s[%d]: all %g ≠ without position %d %g + it alone %g", m.params[i].name, j, all[i][j], k, without[i][j], alone[i][j])
			}
		}
	}
}

// TestDataParallelEqualsSerial: the workers' summed gradients are those
// of one worker doing every sequence, and fn sees each sequence once.
func TestDataParallelEqualsSerial(t *testing.T) {
	m := newModelT(t, tinyConfig(true), 7)
	roughen(m, 8)
	rng := rand.New(rand.NewPCG(9, 9))
	seqs := randomSeqs(rng, 7, 2, 20, VocabSize)
	lw := randomWeights(rng, seqs, true)

	m.workers = 1
	serial := accumulate(t, m, seqs, lw.grads)
	for _, workers := range []int{2, 3, 16} {
		m.workers = workers
		var calls [7]atomic.Int32
		par := accumulate(t, m, seqs, func(i int, o Output) Grads {
			calls[i].Add(1)
			return lw.grads(i, o)
		})
		for i := range calls {
			if n := calls[i].Load(); n != 1 {
				t.Errorf("%d workers: fn called %d times for sequence %d", workers, n, i)
			}
		}
		for i := range serial {
			for j := range serial[i] {
				if d := math.Abs(float64(serial[i][j] - par[i][j])); d > 1e-5+1e-5*math.Abs(float64(serial[i][j])) {
					t.Fatalf("%d workers: %s[%d] = %g, serially %g", workers, m.params[i].name, j, par[i][j], serial[i][j])
				}
			}
		}
	}
	// Accumulate adds: twice the sequences, twice the gradient.
	m.workers = 2
	m.ZeroGrad()
	for range 2 {
		if err := m.Accumulate(seqs, lw.grads); err != nil {
			t.Fatal(err)
		}
	}
	for i := range serial {
		for j := range serial[i] {
			if d := math.Abs(float64(2*serial[i][j] - m.grads[i][j])); d > 1e-5+1e-5*math.Abs(float64(serial[i][j])) {
				t.Fatalf("two Accumulates: %s[%d] = %g, want %g", m.params[i].name, j, m.grads[i][j], 2*serial[i][j])
			}
		}
	}
}

func TestAccumulateErrors(t *testing.T) {
	m := newModelT(t, tinyConfig(false), 1)
	ok := func(i int, o Output) Grads { return Grads{Logp: make([]float32, len(o.Logp))} }
	tests := []struct {
		name string
		seqs [][]int
		fn   func(int, Output) Grads
		want string
	}{
		{"short", [][]int{{1, 2}, {1}}, ok, "sequence 1 has 1 tokens"},
		{"id too large", [][]int{{1, VocabSize}}, ok, "outside the vocabulary"},
		{"negative id", [][]int{{-1, 2}}, ok, "outside the vocabulary"},
		{"too long", [][]int{make([]int, 65)}, ok, "max_position_embeddings 64"},
		{"nil fn", [][]int{{1, 2}}, nil, "nil loss function"},
		{"wrong length", [][]int{{1, 2, 3}}, func(int, Output) Grads { return Grads{Logp: []float32{1}} }, "1 log-prob gradients for 2 positions"},
		{"value without head", [][]int{{1, 2}}, func(int, Output) Grads { return Grads{Value: []float32{1}} }, "without a value head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Accumulate(tt.seqs, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Accumulate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := m.Forward([][]int{{1}}); err == nil {
		t.Error("Forward of a 1-token sequence succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	base := tinyConfig(false)
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no hidden", func(c *Config) { c.HiddenSize = 0 }, "hidden_size is 0"},
		{"heads", func(c *Config) { c.NumAttentionHeads = 3 }, "not divisible"},
		{"odd head dim", func(c *Config) { c.HiddenSize, c.NumAttentionHeads = 18, 6 }, "odd"},
		{"gqa", func(c *Config) { c.NumKeyValueHeads = 1 }, "grouped-query"},
		{"tied", func(c *Config) { c.TieWordEmbeddings = true }, "tie_word_embeddings"},
		{"act", func(c *Config) { c.HiddenAct = "gelu" }, "hidden_act"},
		{"vocab", func(c *Config) { c.VocabSize = 100 }, "vocab_size 100"},
		{"eps", func(c *Config) { c.RMSNormEps = -1 }, "rms_norm_eps"},
		{"layers", func(c *Config) { c.NumHiddenLayers = -2 }, "num_hidden_layers is -2"},
		{"dtype", func(c *Config) { c.TorchDtype = "bfloat16" }, "torch_dtype"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
			if _, err := New(c, 1); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestModelBasics(t *testing.T) {
	cfg := tinyConfig(true)
	m := newModelT(t, cfg, 1)
	if got, want := m.NumParams(), cfg.NumParams(); got != want {
		t.Errorf("NumParams = %d, config says %d", got, want)
	}
	// d=16, f=24, V=267, 2 layers: embed and lm_head 2·267·16, final norm
	// 16, per layer 2·16 + 4·16² + 3·16·24, value head 16.
	if want := 2*267*16 + 16 + 2*(2*16+4*256+3*16*24) + 16; m.NumParams() != want {
		t.Errorf("NumParams = %d, want %d", m.NumParams(), want)
	}
	if mem := cfg.MemoryBytes(8, 64); mem < 16*int64(m.NumParams()) {
		t.Errorf("MemoryBytes = %d, less than weights, grads and moments", mem)
	}
	// Seeded init is deterministic; another seed differs.
	again, other := newModelT(t, cfg, 1), newModelT(t, cfg, 2)
	for i, p := range m.params {
		if !equalFloats(p.data, again.params[i].data) {
			t.Fatalf("%s differs between two inits with one seed", p.name)
		}
	}
	if equalFloats(m.params[1].data, other.params[1].data) && equalFloats(m.embed.data, other.embed.data) {
		t.Error("different seeds gave the same weights")
	}
	for _, p := range m.params {
		if !p.decay {
			for _, v := range p.data {
				if v != 1 {
					t.Fatalf("%s initialised to %g, want 1", p.name, v)
				}
			}
		}
	}
	// A clone is independent.
	c := m.Clone()
	c.embed.data[0] += 1
	if m.embed.data[0] == c.embed.data[0] {
		t.Error("Clone shares weights")
	}
	// Gradient norm and clipping.
	m.ZeroGrad()
	m.grads[0][0], m.grads[1][0] = 3, 4
	if n := m.ClipGradNorm(1); n != 5 {
		t.Errorf("ClipGradNorm returned %g, want 5", n)
	}
	if n := m.GradNorm(); math.Abs(n-1) > 1e-5 {
		t.Errorf("norm after clipping to 1 = %g", n)
	}
	m.grads[2][0] = float32(math.NaN())
	if n := m.ClipGradNorm(1); !math.IsNaN(n) {
		t.Errorf("ClipGradNorm with a NaN gradient = %g, want NaN", n)
	}
	m.grads[2][0] = float32(math.Inf(1))
	if n := m.GradNorm(); !math.IsInf(n, 1) {
		t.Errorf("GradNorm with an infinite gradient = %g, want +Inf", n)
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// overfit trains m to predict seqs with AdamW and returns the mean
// negative log-likelihood per token after each step.
func overfit(t testing.TB, m *Model, seqs [][]int, steps int, lr float64) []float64 {
	t.Helper()
	opt, err := NewAdamW(m, AdamWConfig{LR: lr, WeightDecay: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range seqs {
		n += len(s) - 1
	}
	var losses []float64
	for range steps {
		m.ZeroGrad()
		var loss atomic.Uint64 // float64 bits, summed under CAS
		err := m.Accumulate(seqs, func(_ int, out Output) Grads {
			g := make([]float32, len(out.Logp))
			var l float64
			for i, v := range out.Logp {
				g[i] = -1 / float32(n)
				l -= float64(v)
			}
			for {
				old := loss.Load()
				if loss.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+l)) {
					break
				}
			}
			return Grads{Logp: g}
		})
		if err != nil {
			t.Fatal(err)
		}
		m.ClipGradNorm(1)
		opt.Step(lr)
		losses = append(losses, math.Float64frombits(loss.Load())/float64(n))
	}
	return losses
}

func TestExpf(t *testing.T) {
	worst := 0.0
	for i := range 200001 {
		x := -87.0 + 175.5*float64(i)/200000
		got, want := float64(expf(float32(x))), math.Exp(float64(float32(x)))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 3e-7 {
		t.Errorf("expf's worst relative error %g, want under 3e-7", worst)
	}
	for _, tt := range []struct{ x, want float32 }{
		{0, 1}, {-100, 0}, {float32(math.Inf(-1)), 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := expf(tt.x); got != tt.want {
			t.Errorf("expf(%g) = %g, want %g", tt.x, got, tt.want)
		}
	}
	if got := expf(float32(math.NaN())); !math.IsNaN(float64(got)) {
		t.Errorf("expf(NaN) = %g", got)
	}
}

// TestMemoryBytes: the estimate counts what a worker really allocates.
func TestMemoryBytes(t *testing.T) {
	cfg := tinyConfig(true).Normalize()
	m := newModelT(t, cfg, 1)
	w := &worker{m: m}
	w.size(50)
	var floats int64
	for _, ss := range [][][]float32{w.res, w.mid, w.h1, w.h2, w.r1, w.r2, w.q, w.k, w.v, w.att, w.lse, w.gate, w.up} {
		for _, s := range ss {
			floats += int64(cap(s))
		}
	}
	for _, s := range [][]float32{w.hF, w.rF, w.logits, w.probs, w.tmp, w.heads, w.dx, w.dh, w.dq, w.dk, w.dv, w.datt, w.act, w.dact, w.dgate, w.dup, w.dlog, w.hsel, w.dhsel, w.s, w.ds} {
		floats += int64(cap(s))
	}
	floats += 2 * int64(cap(w.sel))
	if want := 50 * cfg.workerFloatsPerToken(); floats != want {
		t.Errorf("a worker for 50 tokens allocates %d floats, the estimate says %d", floats, want)
	}
	p := int64(m.NumParams())
	base := 4 * (4*p + int64(cfg.MaxPositionEmbeddings*cfg.HeadDim))
	if got := cfg.MemoryBytes(1, 50) - base; got != 4*floats {
		t.Errorf("one worker's activations are estimated at %d bytes, want %d", got, 4*floats)
	}
}
