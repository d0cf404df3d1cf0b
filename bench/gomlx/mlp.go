package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// MLP benchmark: batch 256, 128 -> 344 (SiLU) -> 128, MSE loss, SGD.
const (
	mlpBatch = 256
	mlpIn    = 128
	mlpHid   = 344
	mlpOut   = 128
	mlpLR    = 0.01
)

// mlpFlop counts the matmul FLOPs of one step: 2 forward GEMMs and 3 backward
// GEMMs (dW2, dA, dW1; no gradient w.r.t. the input is needed).
func mlpFlop(batch int) float64 {
	g := 2 * float64(batch) * mlpIn * mlpHid // every GEMM here is batch×128×344 in some layout
	return 5 * g
}

// MLPResult holds the timings of the MLP training step.
type MLPResult struct {
	Batch          int                `json:"batch"`
	FlopPerStep    float64            `json:"matmul_flop_per_step"`
	Impls          map[string]Timing  `json:"impls"`
	MsPerStep      map[string]float64 `json:"ms_per_step"`
	GFlops         map[string]float64 `json:"effective_gflops"`
	FirstCallMs    map[string]float64 `json:"first_call_ms"`
	Check          map[string]float64 `json:"check"`
	NewShapeCallMs map[string]float64 `json:"gomlx_new_batch_size_first_call_ms"`
}

var mlpImpls = []string{
	"gomlx_autodiff_dot",             // graph.Gradient, matmuls via graph.Dot (= graph.MatMul on 2-D)
	"gomlx_autodiff_dotgeneral",      // graph.Gradient, matmuls via graph.DotGeneral
	"gomlx_autodiff_dot_not_donated", // as gomlx_autodiff_dot, parameters not donated
	"gomlx_manual_backward",          // GoMLX graph, backward written by hand with DotGeneral
	"hand_gonum_blas32",              // plain Go, gonum blas32 Sgemm
	"hand_go_loops",                  // plain Go, loops
}

// gomlxVariants maps the GoMLX implementation names to graph and donation.
var gomlxVariants = []struct {
	name   string
	fn     mlpGraphFn
	donate bool
}{
	{"gomlx_autodiff_dot", mlpAutodiffGraph(Dot), true},
	{"gomlx_autodiff_dotgeneral", mlpAutodiffGraph(matmul2D), true},
	{"gomlx_autodiff_dot_not_donated", mlpAutodiffGraph(Dot), false},
	{"gomlx_manual_backward", mlpManualGraph, true},
}

type mlpParams struct{ w1, b1, w2, b2 []float32 }

func newMLPParams(seed uint64) mlpParams {
	rng := rand.New(rand.NewPCG(seed, 7))
	return mlpParams{
		w1: randF32(rng, mlpIn*mlpHid, float32(1/math.Sqrt(mlpIn))),
		b1: randF32(rng, mlpHid, 0.1),
		w2: randF32(rng, mlpHid*mlpOut, float32(1/math.Sqrt(mlpHid))),
		b2: randF32(rng, mlpOut, 0.1),
	}
}

func (p mlpParams) clone() mlpParams {
	c := func(s []float32) []float32 { return append([]float32(nil), s...) }
	return mlpParams{c(p.w1), c(p.b1), c(p.w2), c(p.b2)}
}

// ---------------------------------------------------------------- GoMLX

type mlpGraphFn = func(x, y, w1, b1, w2, b2 *Node) []*Node

// matmul2D is a plain [m,k]·[k,n] product expressed as DotGeneral.
func matmul2D(a, b *Node) *Node { return DotGeneral(a, []int{1}, nil, b, []int{0}, nil) }

// mlpAutodiffGraph returns the GoMLX training-step graph: inputs x, y, w1,
// b1, w2, b2; outputs loss and the SGD-updated parameters; gradients come
// from graph.Gradient. dot is graph.Dot (what graph.MatMul uses for rank-2
// operands) or matmul2D (DotGeneral): they have different VJP code.
func mlpAutodiffGraph(dot func(a, b *Node) *Node) mlpGraphFn {
	return func(x, y, w1, b1, w2, b2 *Node) []*Node {
		h := Add(dot(x, w1), InsertAxes(b1, 0))
		a := Mul(h, Sigmoid(h)) // SiLU
		out := Add(dot(a, w2), InsertAxes(b2, 0))
		loss := ReduceAllMean(Square(Sub(out, y)))
		grads := Gradient(loss, w1, b1, w2, b2)
		params := []*Node{w1, b1, w2, b2}
		outs := []*Node{loss}
		for i, p := range params {
			outs = append(outs, Sub(p, MulScalar(grads[i], mlpLR)))
		}
		return outs
	}
}

// mlpManualGraph is the same step in GoMLX, but with the backward pass
// written by hand as explicit DotGeneral ops (no graph.Gradient).
func mlpManualGraph(x, y, w1, b1, w2, b2 *Node) []*Node {
	batch := x.Shape().Dimensions[0]
	h := Add(matmul2D(x, w1), InsertAxes(b1, 0))
	s := Sigmoid(h)
	a := Mul(h, s)
	out := Add(matmul2D(a, w2), InsertAxes(b2, 0))
	d := Sub(out, y)
	loss := ReduceAllMean(Square(d))
	dOut := MulScalar(d, 2.0/float64(batch*mlpOut))
	dW2 := DotGeneral(a, []int{0}, nil, dOut, []int{0}, nil) // aᵀ·dOut  [344,128]
	db2 := ReduceSum(dOut, 0)                                // [128]
	dA := DotGeneral(dOut, []int{1}, nil, w2, []int{1}, nil) // dOut·W2ᵀ [B,344]
	one := ScalarOne(x.Graph(), x.DType())
	dH := Mul(dA, Add(s, Mul(h, Mul(s, Sub(one, s)))))     // SiLU'
	dW1 := DotGeneral(x, []int{0}, nil, dH, []int{0}, nil) // xᵀ·dH [128,344]
	db1 := ReduceSum(dH, 0)
	outs := []*Node{loss}
	for i, p := range []*Node{w1, b1, w2, b2} {
		outs = append(outs, Sub(p, MulScalar([]*Node{dW1, db1, dW2, db2}[i], mlpLR)))
	}
	return outs
}

// gomlxMLP runs training steps with a compiled Exec, optionally donating the
// parameter buffers (the idiomatic way to update weights in place).
type gomlxMLP struct {
	backend backends.Backend
	exec    *Exec
	x, y    *tensors.Tensor
	params  []*tensors.Tensor
	donate  bool
}

func newGomlxMLP(backend backends.Backend, fn mlpGraphFn, x, y []float32, batch int, p mlpParams, donate bool) *gomlxMLP {
	return &gomlxMLP{
		backend: backend,
		exec:    MustNewExec(backend, fn),
		x:       tensors.FromFlatDataAndDimensions(append([]float32(nil), x...), batch, mlpIn),
		y:       tensors.FromFlatDataAndDimensions(append([]float32(nil), y...), batch, mlpOut),
		params: []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(append([]float32(nil), p.w1...), mlpIn, mlpHid),
			tensors.FromFlatDataAndDimensions(append([]float32(nil), p.b1...), mlpHid),
			tensors.FromFlatDataAndDimensions(append([]float32(nil), p.w2...), mlpHid, mlpOut),
			tensors.FromFlatDataAndDimensions(append([]float32(nil), p.b2...), mlpOut),
		},
		donate: donate,
	}
}

func (g *gomlxMLP) step() float32 {
	args := []any{g.x, g.y}
	// The user-created initial tensors share their Go memory with the
	// backend and cannot be donated; outputs of a previous step can.
	canDonate := g.donate && !g.params[0].IsShared()
	for _, p := range g.params {
		if canDonate {
			args = append(args, must(DonateTensorBuffer(p, g.backend, 0)))
		} else {
			args = append(args, p)
		}
	}
	outs := g.exec.MustExec(args...)
	if !canDonate {
		for _, p := range g.params {
			p.MustFinalizeAll()
		}
	}
	loss := tensors.MustCopyFlatData[float32](outs[0])[0]
	outs[0].MustFinalizeAll()
	copy(g.params, outs[1:])
	return loss
}

func (g *gomlxMLP) finalize() {
	g.exec.Finalize()
	g.x.MustFinalizeAll()
	g.y.MustFinalizeAll()
	for _, p := range g.params {
		p.MustFinalizeAll()
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ---------------------------------------------------------------- hand-written

// handMLP is a hand-written forward + manual backward + SGD step, with the
// matrix products done either by gonum blas32 or by plain Go loops.
type handMLP struct {
	batch     int
	x, y      []float32
	p         mlpParams
	useGonum  bool
	h, s, a   []float32 // pre-activation, sigmoid(h), SiLU(h)
	out, dOut []float32
	dA        []float32 // gradient w.r.t. a, reused as gradient w.r.t. h
	dW1, dW2  []float32
	db1, db2  []float32
}

func newHandMLP(x, y []float32, batch int, p mlpParams, useGonum bool) *handMLP {
	return &handMLP{
		batch: batch, x: x, y: y, p: p, useGonum: useGonum,
		h: make([]float32, batch*mlpHid), s: make([]float32, batch*mlpHid), a: make([]float32, batch*mlpHid),
		out: make([]float32, batch*mlpOut), dOut: make([]float32, batch*mlpOut),
		dA:  make([]float32, batch*mlpHid),
		dW1: make([]float32, mlpIn*mlpHid), dW2: make([]float32, mlpHid*mlpOut),
		db1: make([]float32, mlpHid), db2: make([]float32, mlpOut),
	}
}

func gen(r, c int, d []float32) blas32.General {
	return blas32.General{Rows: r, Cols: c, Stride: c, Data: d}
}

// mm computes C = op(A)·op(B) for C m×n: tA means A is stored k×m, tB means B
// is stored n×k.
func (m *handMLP) mm(c, a, b []float32, rows, inner, cols int, tA, tB bool) {
	if m.useGonum {
		ta, tb := blas.NoTrans, blas.NoTrans
		ga, gb := gen(rows, inner, a), gen(inner, cols, b)
		if tA {
			ta, ga = blas.Trans, gen(inner, rows, a)
		}
		if tB {
			tb, gb = blas.Trans, gen(cols, inner, b)
		}
		blas32.Gemm(ta, tb, 1, ga, gb, 0, gen(rows, cols, c))
		return
	}
	switch {
	case !tA && !tB:
		loopIKJ(c, a, b, rows, inner, cols)
	case tA && !tB: // C = Aᵀ·B, A inner×rows, B inner×cols
		clear(c[:rows*cols])
		for p := 0; p < inner; p++ {
			bp := b[p*cols : (p+1)*cols]
			for i := 0; i < rows; i++ {
				av := a[p*rows+i]
				ci := c[i*cols : (i+1)*cols]
				for j := range ci {
					ci[j] += av * bp[j]
				}
			}
		}
	case !tA && tB: // C = A·Bᵀ, B cols×inner
		for i := 0; i < rows; i++ {
			ai := a[i*inner : (i+1)*inner]
			for j := 0; j < cols; j++ {
				bj := b[j*inner : (j+1)*inner]
				var s float32
				for p, v := range ai {
					s += v * bj[p]
				}
				c[i*cols+j] = s
			}
		}
	default:
		panic("unsupported layout")
	}
}

func sigmoid32(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

func (m *handMLP) step() float32 {
	B := m.batch
	// Forward.
	m.mm(m.h, m.x, m.p.w1, B, mlpIn, mlpHid, false, false)
	for i := 0; i < B; i++ {
		row := m.h[i*mlpHid : (i+1)*mlpHid]
		for j := range row {
			v := row[j] + m.p.b1[j]
			row[j] = v
			s := sigmoid32(v)
			m.s[i*mlpHid+j] = s
			m.a[i*mlpHid+j] = v * s
		}
	}
	m.mm(m.out, m.a, m.p.w2, B, mlpHid, mlpOut, false, false)
	var loss float64
	scale := float32(2.0 / float64(B*mlpOut))
	for i := 0; i < B; i++ {
		for j := 0; j < mlpOut; j++ {
			k := i*mlpOut + j
			d := m.out[k] + m.p.b2[j] - m.y[k]
			loss += float64(d) * float64(d)
			m.dOut[k] = d * scale
		}
	}
	loss /= float64(B * mlpOut)
	// Backward.
	m.mm(m.dW2, m.a, m.dOut, mlpHid, B, mlpOut, true, false) // dW2 = aᵀ·dOut
	clear(m.db2)
	for i := 0; i < B; i++ {
		for j, v := range m.dOut[i*mlpOut : (i+1)*mlpOut] {
			m.db2[j] += v
		}
	}
	m.mm(m.dA, m.dOut, m.p.w2, B, mlpOut, mlpHid, false, true) // dA = dOut·W2ᵀ
	clear(m.db1)
	for i := 0; i < B; i++ {
		for j := 0; j < mlpHid; j++ {
			k := i*mlpHid + j
			s, h := m.s[k], m.h[k]
			g := m.dA[k] * (s + h*s*(1-s)) // SiLU'(h)
			m.dA[k] = g
			m.db1[j] += g
		}
	}
	m.mm(m.dW1, m.x, m.dA, mlpIn, B, mlpHid, true, false) // dW1 = xᵀ·dH
	// SGD.
	sgd := func(w, g []float32) {
		for i := range w {
			w[i] -= mlpLR * g[i]
		}
	}
	sgd(m.p.w1, m.dW1)
	sgd(m.p.b1, m.db1)
	sgd(m.p.w2, m.dW2)
	sgd(m.p.b2, m.db2)
	return float32(loss)
}

// ---------------------------------------------------------------- bench

func mlpData(batch int) (x, y []float32) {
	rng := rand.New(rand.NewPCG(42, uint64(batch)))
	return randF32(rng, batch*mlpIn, 1), randF32(rng, batch*mlpOut, 1)
}

func benchMLP(backend backends.Backend) MLPResult {
	B := mlpBatch
	x, y := mlpData(B)
	p0 := newMLPParams(1)
	res := MLPResult{Batch: B, FlopPerStep: mlpFlop(B),
		Impls: map[string]Timing{}, MsPerStep: map[string]float64{}, GFlops: map[string]float64{},
		FirstCallMs: map[string]float64{}, Check: map[string]float64{}, NewShapeCallMs: map[string]float64{}}
	record := func(name string, t Timing) {
		res.Impls[name] = t
		res.MsPerStep[name] = t.MedianNs / 1e6
		res.GFlops[name] = res.FlopPerStep / t.MedianNs
	}

	// Correctness: one step from identical parameters, each GoMLX variant vs
	// the hand-written gonum version. Also times the first (compiling) call.
	href := newHandMLP(x, y, B, p0.clone(), true)
	lossRef := href.step()
	res.Check["loss_step1"] = float64(lossRef)
	hloops := newHandMLP(x, y, B, p0.clone(), false)
	res.Check["loss_abs_diff_hand_go_loops_vs_hand_gonum_blas32"] = math.Abs(float64(hloops.step() - lossRef))
	res.Check["w1_max_abs_diff_hand_go_loops_vs_hand_gonum_blas32"] = maxAbsDiff(hloops.p.w1, href.p.w1)
	for _, v := range gomlxVariants {
		if !v.donate {
			continue
		}
		g := newGomlxMLP(backend, v.fn, x, y, B, p0.clone(), false)
		t0 := time.Now()
		lg := g.step()
		res.FirstCallMs[v.name+"_first_call"] = msSince(t0)
		w1g := tensors.MustCopyFlatData[float32](g.params[0])
		t0 = time.Now()
		g.step()
		res.FirstCallMs[v.name+"_second_call"] = msSince(t0)
		g.finalize()
		res.Check["loss_abs_diff_"+v.name+"_vs_hand_gonum_blas32"] = math.Abs(float64(lg - lossRef))
		res.Check["w1_max_abs_diff_"+v.name+"_vs_hand_gonum_blas32"] = maxAbsDiff(w1g, href.p.w1)
	}

	fns := map[string]func(){}
	for _, v := range gomlxVariants {
		g := newGomlxMLP(backend, v.fn, x, y, B, p0.clone(), v.donate)
		fns[v.name] = func() { g.step() }
		defer g.finalize()
	}
	hg := newHandMLP(x, y, B, p0.clone(), true)
	fns["hand_gonum_blas32"] = func() { hg.step() }
	hl := newHandMLP(x, y, B, p0.clone(), false)
	fns["hand_go_loops"] = func() { hl.step() }
	list := make([]func(), len(mlpImpls))
	for i, name := range mlpImpls {
		list[i] = fns[name]
	}
	for i, t := range measureGroup(list, numReps) {
		record(mlpImpls[i], t)
	}

	// A new batch size on an already-used Exec triggers a new graph build +
	// compile: time the first call for a few unseen batch sizes.
	g := newGomlxMLP(backend, mlpManualGraph, x, y, B, p0.clone(), true)
	g.step()
	for _, nb := range []int{255, 200, 128} {
		xb, yb := mlpData(nb)
		xt := tensors.FromFlatDataAndDimensions(xb, nb, mlpIn)
		yt := tensors.FromFlatDataAndDimensions(yb, nb, mlpOut)
		g.x.MustFinalizeAll()
		g.y.MustFinalizeAll()
		g.x, g.y = xt, yt
		t0 := time.Now()
		g.step()
		first := msSince(t0)
		t0 = time.Now()
		g.step()
		res.NewShapeCallMs[fmt.Sprintf("manual_backward_batch_%d_first", nb)] = first
		res.NewShapeCallMs[fmt.Sprintf("manual_backward_batch_%d_second", nb)] = msSince(t0)
	}
	g.finalize()

	fmt.Printf("mlp step (batch %d):", B)
	for _, name := range mlpImpls {
		fmt.Printf("  %s=%.3f ms (%.2f GFLOP/s)", name, res.MsPerStep[name], res.GFlops[name])
	}
	fmt.Println()
	fmt.Printf("mlp first call: %v; new batch sizes: %v; checks: %v\n", res.FirstCallMs, res.NewShapeCallMs, res.Check)
	return res
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }
