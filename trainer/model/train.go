package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/retool-rl/retool/trainer/linalg"
)

// Output is what the model says about one sequence: for t in
// 0..len(tokens)-2, Logp[t] = log p(tokens[t+1] | tokens[:t+1]); Entropy[t]
// the entropy of that next-token distribution; Value[t] the value head at
// position t (nil without a value head). The slices belong to the caller.
type Output struct{ Logp, Entropy, Value []float32 }

// Grads are d(loss)/d(Logp[t]) and d(loss)/d(Value[t]), each nil (all
// zero) or as long as the Output's. A zero entry masks its position: it
// contributes no gradient.
type Grads struct{ Logp, Value []float32 }

// Accumulate runs forward and backward over seqs and ADDS the parameter
// gradients to the model's buffers. The sequences are spread over
// workers, one per core, each with its own activations and gradient
// buffer, summed at the end in a fixed order (the result depends on
// GOMAXPROCS, not on scheduling). fn is called once per sequence,
// possibly concurrently from several goroutines, with the forward's
// output, and returns the loss gradients.
//
// Invalid sequences are reported before any work. An error from a bad
// Grads leaves the gradients partly accumulated: ZeroGrad before going on.
func (m *Model) Accumulate(seqs [][]int, fn func(i int, out Output) Grads) error {
	if fn == nil {
		return errors.New("model: accumulate: nil loss function")
	}
	if err := m.checkSeqs(seqs); err != nil {
		return fmt.Errorf("model: accumulate: %w", err)
	}
	m.ensureGrads()
	err := m.run(seqs, true, func(w *worker, i int) error {
		out := w.forward(seqs[i])
		g := fn(i, out)
		if err := m.checkGrads(g, len(seqs[i])-1); err != nil {
			return fmt.Errorf("sequence %d: %w", i, err)
		}
		w.backward(seqs[i], g)
		return nil
	})
	if err != nil {
		return fmt.Errorf("model: accumulate: %w", err)
	}
	return nil
}

// Forward runs the model over seqs without gradients (a reference model,
// old log-probabilities, evaluation). It is safe for concurrent use.
func (m *Model) Forward(seqs [][]int) ([]Output, error) {
	if err := m.checkSeqs(seqs); err != nil {
		return nil, fmt.Errorf("model: forward: %w", err)
	}
	outs := make([]Output, len(seqs))
	err := m.run(seqs, false, func(w *worker, i int) error {
		outs[i] = w.forward(seqs[i])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model: forward: %w", err)
	}
	return outs, nil
}

func (m *Model) checkSeqs(seqs [][]int) error {
	for i, s := range seqs {
		if len(s) < 2 {
			return fmt.Errorf("sequence %d has %d tokens; at least 2 are needed to predict one", i, len(s))
		}
		if err := m.checkTokens(s); err != nil {
			return fmt.Errorf("sequence %d: %w", i, err)
		}
	}
	return nil
}

func (m *Model) checkTokens(s []int) error {
	if len(s) > m.cfg.MaxPositionEmbeddings {
		return fmt.Errorf("%d tokens exceed max_position_embeddings %d", len(s), m.cfg.MaxPositionEmbeddings)
	}
	for t, id := range s {
		if id < 0 || id >= m.cfg.VocabSize {
			return fmt.Errorf("token %d is id %d, outside the vocabulary [0, %d)", t, id, m.cfg.VocabSize)
		}
	}
	return nil
}

func (m *Model) checkGrads(g Grads, n int) error {
	if g.Logp != nil && len(g.Logp) != n {
		return fmt.Errorf("%d log-prob gradients for %d positions", len(g.Logp), n)
	}
	if g.Value != nil {
		if m.value == nil {
			return errors.New("value gradients for a model without a value head")
		}
		if len(g.Value) != n {
			return fmt.Errorf("%d value gradients for %d positions", len(g.Value), n)
		}
	}
	return nil
}

// run calls job for every sequence on up to numWorkers goroutines. The
// sequences are dealt out up front, longest first to the least loaded
// worker, so that the split (and with it the order of the floating-point
// sums) does not depend on scheduling. With train, the first worker adds
// into the model's gradients and the others into their own buffers,
// which are then added to the model's.
func (m *Model) run(seqs [][]int, train bool, job func(w *worker, i int) error) error {
	nw := min(m.numWorkers(), len(seqs))
	if nw == 0 {
		return nil
	}
	order := make([]int, len(seqs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(seqs[b]) - len(seqs[a]) })
	shares := make([][]int, nw)
	load := make([]float64, nw)
	params := float64(m.NumParams())
	for _, i := range order {
		w := slices.Index(load, slices.Min(load))
		shares[w] = append(shares[w], i)
		n := float64(len(seqs[i]))
		load[w] += n * (params + n*float64(m.cfg.HiddenSize)) // linear layers and attention
	}
	workers := make([]*worker, nw)
	for i := range workers {
		w := m.getWorker()
		w.grads = nil
		if train {
			if i == 0 {
				w.grads = m.grads
			} else {
				w.ownGrads()
			}
		}
		workers[i] = w
	}
	defer func() {
		for _, w := range workers {
			w.grads = nil
			m.putWorker(w)
		}
	}()

	errs := make([]error, nw)
	var wg sync.WaitGroup
	for k := range nw {
		wg.Go(func() {
			slices.Sort(shares[k])
			for _, i := range shares[k] {
				if err := job(workers[k], i); err != nil {
					errs[k] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if train && nw > 1 {
		m.sumGrads(workers[1:])
	}
	return nil
}

// sumGrads adds the workers' gradient buffers into the model's, in worker
// order, spreading the tensors' chunks over goroutines.
func (m *Model) sumGrads(ws []*worker) {
	const chunk = 1 << 16
	type span struct{ p, lo, hi int }
	var spans []span
	for p, g := range m.grads {
		for lo := 0; lo < len(g); lo += chunk {
			spans = append(spans, span{p, lo, min(lo+chunk, len(g))})
		}
	}
	n := min(len(ws)+1, len(spans))
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			for j := k; j < len(spans); j += n {
				s := spans[j]
				dst := m.grads[s.p][s.lo:s.hi]
				for _, w := range ws {
					linalg.Axpy(1, w.grads[s.p][s.lo:s.hi], dst)
				}
			}
		})
	}
	wg.Wait()
}

func (m *Model) getWorker() *worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.pool); n > 0 {
		w := m.pool[n-1]
		m.pool = m.pool[:n-1]
		return w
	}
	return &worker{m: m}
}

func (m *Model) putWorker(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Keep as many as may run at once; more would only hold memory.
	if len(m.pool) < m.numWorkers() {
		m.pool = append(m.pool, w)
	}
}

// attnBlockRows is the number of queries whose attention is computed
// as one block of matrix products (the scores' scratch is that many rows
// of the sequence's length). A variable for tests.
var attnBlockRows = 64

// worker holds one sequence's activations and the backward's scratch.
type worker struct {
	m     *Model
	grads [][]float32 // where backward adds (nil: forward only)
	own   [][]float32 // this worker's gradient buffer when not the model's

	n int // tokens the buffers below are sized for

	// Per layer: the residual stream in (res[l]) and after attention
	// (mid[l]); the normed inputs of attention and MLP with their inverse
	// RMS; q (rotated), k (rotated) and v head-major ([H][n][hd]); the
	// attention output before o_proj ([n, d]); the log-sum-exp per head
	// and position; the MLP's gate and up.
	res, mid, h1, h2, r1, r2 [][]float32
	q, k, v, att, lse        [][]float32
	gate, up                 [][]float32
	// res[L] is the last layer's output; hF and rF its final norm.
	hF, rF        []float32
	logits, probs []float32 // [n-1, V]
	// Scratch.
	tmp, heads, dx, dh, dq, dk, dv, datt []float32
	act, dact, dgate, dup                []float32
	dlog, hsel, dhsel, s, ds             []float32
	sel                                  []int // positions with a log-prob gradient
}

func (w *worker) ownGrads() {
	if w.own == nil {
		w.own = make([][]float32, len(w.m.params))
		for i, p := range w.m.params {
			w.own[i] = make([]float32, len(p.data))
		}
	} else {
		for _, g := range w.own {
			clear(g)
		}
	}
	w.grads = w.own
}

// size makes the buffers hold n tokens; they only grow.
func (w *worker) size(n int) {
	if n <= w.n {
		return
	}
	c := w.m.cfg
	d, f, v, l, h := c.HiddenSize, c.IntermediateSize, c.VocabSize, c.NumHiddenLayers, c.NumAttentionHeads
	perLayer := func(width int) [][]float32 {
		s := make([][]float32, l)
		for i := range s {
			s[i] = make([]float32, n*width)
		}
		return s
	}
	w.res = append(perLayer(d), make([]float32, n*d))
	w.mid, w.h1, w.h2 = perLayer(d), perLayer(d), perLayer(d)
	w.r1, w.r2 = perLayer(1), perLayer(1)
	w.q, w.k, w.v, w.att = perLayer(d), perLayer(d), perLayer(d), perLayer(d)
	w.lse = perLayer(h)
	w.gate, w.up = perLayer(f), perLayer(f)
	w.hF, w.rF = make([]float32, n*d), make([]float32, n)
	w.logits, w.probs = make([]float32, n*v), make([]float32, n*v)
	nd := func() []float32 { return make([]float32, n*d) }
	w.tmp, w.heads, w.dx, w.dh, w.dq, w.dk, w.dv, w.datt = nd(), nd(), nd(), nd(), nd(), nd(), nd(), nd()
	w.act, w.dact, w.dgate, w.dup = make([]float32, n*f), make([]float32, n*f), make([]float32, n*f), make([]float32, n*f)
	w.dlog, w.hsel, w.dhsel, w.sel = make([]float32, n*v), make([]float32, n*d), make([]float32, n*d), make([]int, n)
	w.s, w.ds = make([]float32, attnBlockRows*n), make([]float32, attnBlockRows*n)
	w.n = n
}

// forward runs the model over tokens, keeping what backward needs.
func (w *worker) forward(tokens []int) Output {
	m := w.m
	c := m.cfg
	n, d, f, V, H, hd := len(tokens), c.HiddenSize, c.IntermediateSize, c.VocabSize, c.NumAttentionHeads, c.HeadDim
	w.size(n)
	x := w.res[0][:n*d]
	for t, id := range tokens {
		copy(x[t*d:(t+1)*d], m.embed.data[id*d:(id+1)*d])
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	for l, ly := range m.layers {
		x := w.res[l][:n*d]
		h1, q, k, v, att := w.h1[l][:n*d], w.q[l][:n*d], w.k[l][:n*d], w.v[l][:n*d], w.att[l][:n*d]
		rmsNorm(h1, w.r1[l], x, ly.inNorm.data, n, d, c.RMSNormEps)
		// Project, then lay the heads out contiguously, rotating q and k.
		tmp, oh := w.tmp[:n*d], w.heads[:n*d]
		for _, pr := range []struct {
			dst  []float32
			wt   []float32
			rope bool
		}{{q, ly.q.data, true}, {k, ly.k.data, true}, {v, ly.v.data, false}} {
			linalg.MatMulBT(tmp, h1, pr.wt, n, d, d, false)
			splitHeads(pr.dst, tmp, n, H, hd, n, 0)
			if pr.rope {
				for h := range H {
					m.rope(pr.dst[h*n*hd:(h+1)*n*hd], 0, n, false)
				}
			}
		}
		lse := w.lse[l]
		for h := range H {
			qh, kh, vh, o := q[h*n*hd:], k[h*n*hd:], v[h*n*hd:], oh[h*n*hd:]
			for b0 := 0; b0 < n; b0 += attnBlockRows {
				b := min(attnBlockRows, n-b0)
				attnBlock(o[b0*hd:], lse[h*n+b0:], qh[b0*hd:], kh, vh, b, b0, hd, scale, w.s)
			}
		}
		mergeHeads(att, oh, n, H, hd, n, 0)
		mid := w.mid[l][:n*d]
		copy(mid, x)
		linalg.MatMulBT(mid, att, ly.o.data, n, d, d, true)
		h2, gate, up, act := w.h2[l][:n*d], w.gate[l][:n*f], w.up[l][:n*f], w.act[:n*f]
		rmsNorm(h2, w.r2[l], mid, ly.postNorm.data, n, d, c.RMSNormEps)
		linalg.MatMulBT(gate, h2, ly.gate.data, n, d, f, false)
		linalg.MatMulBT(up, h2, ly.up.data, n, d, f, false)
		swiGLU(act, gate, up)
		out := w.res[l+1][:n*d]
		copy(out, mid)
		linalg.MatMulBT(out, act, ly.down.data, n, f, d, true)
	}
	hF := w.hF[:n*d]
	rmsNorm(hF, w.rF, w.res[len(m.layers)][:n*d], m.norm.data, n, d, c.RMSNormEps)

	// Only positions 0..n-2 predict a token of the sequence.
	p := n - 1
	out := Output{Logp: make([]float32, p), Entropy: make([]float32, p)}
	logits := w.logits[:p*V]
	linalg.MatMulBT(logits, hF[:p*d], m.lmHead.data, p, d, V, false)
	for t := range p {
		z := logits[t*V : (t+1)*V]
		lse, ent := logSoftmax(z, w.probs[t*V:(t+1)*V])
		out.Logp[t] = float32(float64(z[tokens[t+1]]) - lse)
		out.Entropy[t] = float32(ent)
	}
	if m.value != nil {
		out.Value = make([]float32, p)
		for t := range p {
			out.Value[t] = linalg.Dot(hF[t*d:(t+1)*d], m.value.data)
		}
	}
	return out
}

// backward adds to w.grads the parameter gradients of the last forward
// (over the same tokens) given the loss gradients g.
func (w *worker) backward(tokens []int, g Grads) {
	m := w.m
	c := m.cfg
	n, d, f, V, H, hd := len(tokens), c.HiddenSize, c.IntermediateSize, c.VocabSize, c.NumAttentionHeads, c.HeadDim
	gr := w.grads
	p := n - 1
	hF := w.hF[:n*d]

	// lm_head and value head, into dh = d(loss)/d(hF). Only positions
	// with a gradient take part (prompts are usually masked), gathered
	// into dense rows for the matrix products.
	dh := w.dh[:n*d]
	clear(dh)
	rows := 0
	for t := range p {
		gt := float32(0)
		if g.Logp != nil {
			gt = g.Logp[t]
		}
		if gt == 0 {
			continue
		}
		// d(logp[y])/dz = onehot(y) − softmax(z).
		dz, pr := w.dlog[rows*V:(rows+1)*V], w.probs[t*V:(t+1)*V]
		for j, pj := range pr {
			dz[j] = -gt * pj
		}
		dz[tokens[t+1]] += gt
		copy(w.hsel[rows*d:(rows+1)*d], hF[t*d:(t+1)*d])
		w.sel[rows] = t
		rows++
	}
	if rows > 0 {
		dlog, hsel, dhsel := w.dlog[:rows*V], w.hsel[:rows*d], w.dhsel[:rows*d]
		linalg.MatMul(dhsel, dlog, m.lmHead.data, rows, V, d, false)
		linalg.MatMulAT(gr[m.lmHead.idx], dlog, hsel, V, rows, d, true)
		for r := range rows {
			t := w.sel[r]
			copy(dh[t*d:(t+1)*d], dhsel[r*d:(r+1)*d])
		}
	}
	if g.Value != nil {
		gv := gr[m.value.idx]
		for t, u := range g.Value {
			if u != 0 {
				linalg.Axpy(u, m.value.data, dh[t*d:(t+1)*d])
				linalg.Axpy(u, hF[t*d:(t+1)*d], gv)
			}
		}
	}
	// dx is d(loss)/d(residual stream), carried down through the layers.
	dx := w.dx[:n*d]
	clear(dx)
	rmsNormBackward(dx, gr[m.norm.idx], dh, w.res[len(m.layers)][:n*d], w.rF, m.norm.data, n, d)

	scale := float32(1 / math.Sqrt(float64(hd)))
	for l := len(m.layers) - 1; l >= 0; l-- {
		ly := m.layers[l]
		// MLP: out = mid + down(silu(gate)·up).
		h2, gate, up := w.h2[l][:n*d], w.gate[l][:n*f], w.up[l][:n*f]
		act, dact, dgate, dup := w.act[:n*f], w.dact[:n*f], w.dgate[:n*f], w.dup[:n*f]
		sig := dgate // σ(gate), until dgate overwrites it in place
		for i, gi := range gate {
			s := sigmoid(gi)
			sig[i] = s
			act[i] = gi * s * up[i]
		}
		linalg.MatMul(dact, dx, ly.down.data, n, d, f, false)
		linalg.MatMulAT(gr[ly.down.idx], dx, act, d, n, f, true)
		for i, gi := range gate {
			s := sig[i]
			dup[i] = dact[i] * gi * s
			dgate[i] = dact[i] * up[i] * s * (1 + gi*(1-s))
		}
		dh := w.dh[:n*d]
		linalg.MatMul(dh, dgate, ly.gate.data, n, f, d, false)
		linalg.MatMul(dh, dup, ly.up.data, n, f, d, true)
		linalg.MatMulAT(gr[ly.gate.idx], dgate, h2, f, n, d, true)
		linalg.MatMulAT(gr[ly.up.idx], dup, h2, f, n, d, true)
		rmsNormBackward(dx, gr[ly.postNorm.idx], dh, w.mid[l][:n*d], w.r2[l], ly.postNorm.data, n, d)

		// Attention: mid = x + o_proj(attention(q, k, v)).
		q, k, v, att, lse := w.q[l][:n*d], w.k[l][:n*d], w.v[l][:n*d], w.att[l][:n*d], w.lse[l]
		datt, dq, dk, dv := w.datt[:n*d], w.dq[:n*d], w.dk[:n*d], w.dv[:n*d]
		linalg.MatMul(datt, dx, ly.o.data, n, d, d, false)
		linalg.MatMulAT(gr[ly.o.idx], dx, att, d, n, d, true)
		// Per head, contiguous: dO in datt's place, O in tmp.
		tmp, dOh := w.tmp[:n*d], w.heads[:n*d]
		splitHeads(dOh, datt, n, H, hd, n, 0)
		splitHeads(tmp, att, n, H, hd, n, 0)
		clear(dk)
		clear(dv)
		for h := range H {
			o := h * n * hd
			for b0 := 0; b0 < n; b0 += attnBlockRows {
				b := min(attnBlockRows, n-b0)
				r := o + b0*hd
				attnBlockBackward(dq[r:], dk[o:], dv[o:], dOh[r:], tmp[r:], lse[h*n+b0:], q[r:], k[o:], v[o:], b, b0, hd, scale, w.s, w.ds)
			}
			m.rope(dq[o:o+n*hd], 0, n, true)
			m.rope(dk[o:o+n*hd], 0, n, true)
		}
		h1 := w.h1[l][:n*d]
		for i, pr := range []struct {
			g  []float32
			wt *tensor
		}{{dq, ly.q}, {dk, ly.k}, {dv, ly.v}} {
			mergeHeads(tmp, pr.g, n, H, hd, n, 0)
			linalg.MatMul(dh, tmp, pr.wt.data, n, d, d, i > 0)
			linalg.MatMulAT(gr[pr.wt.idx], tmp, h1, d, n, d, true)
		}
		rmsNormBackward(dx, gr[ly.inNorm.idx], dh, w.res[l][:n*d], w.r1[l], ly.inNorm.data, n, d)
	}
	ge := gr[m.embed.idx]
	for t, id := range tokens {
		linalg.Axpy(1, dx[t*d:(t+1)*d], ge[id*d:(id+1)*d])
	}
}
