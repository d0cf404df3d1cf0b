package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// A ~0.92M-parameter decoder stack (6 layers, d=128, single-head causal
// attention, SiLU MLP 128->344->128, RMSNorm without gain, residuals) trained
// with MSE on random targets: used to measure compile cost and recompilation
// on a new sequence length, which is what a transformer sees.
const (
	tfLayers = 6
	tfD      = 128
	tfFF     = 344
	tfBatch  = 4
	tfLR     = 0.01
)

func tfParamShapes() [][]int {
	var s [][]int
	for range tfLayers {
		s = append(s, []int{tfD, tfD}, []int{tfD, tfD}, []int{tfD, tfD}, []int{tfD, tfD}, // q k v o
			[]int{tfD, tfFF}, []int{tfFF, tfD}) // mlp
	}
	return s
}

func tfNumParams() int {
	n := 0
	for _, s := range tfParamShapes() {
		n += s[0] * s[1]
	}
	return n
}

// tfFlopPerStep approximates the matmul FLOPs of a training step as 3× the
// forward matmul FLOPs.
func tfFlopPerStep(T int) float64 {
	bt := float64(tfBatch * T)
	perLayer := 4*2*bt*tfD*tfD + 2*2*float64(tfBatch)*float64(T)*float64(T)*tfD + 2*2*bt*tfD*tfFF
	return 3 * tfLayers * perLayer
}

func rmsNorm(x *Node) *Node {
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	// Rsqrt has no gradient in GoMLX v0.26, so use Div(x, Sqrt(.)).
	return Div(x, Sqrt(AddScalar(ms, 1e-6)))
}

// tfTrainGraph: inputs[0]=x [B,T,d], inputs[1]=y [B,T,d], then the weights.
func tfTrainGraph(inputs []*Node) []*Node {
	x, y, ws := inputs[0], inputs[1], inputs[2:]
	g := x.Graph()
	T := x.Shape().Dimensions[1]
	maskBias := InsertAxes(Where(LowerTriangular(g, T),
		Scalar(g, x.DType(), 0), Scalar(g, x.DType(), -1e9)), 0) // [1,T,T] additive causal mask
	h := x
	for l := range tfLayers {
		wq, wk, wv, wo, w1, w2 := ws[6*l], ws[6*l+1], ws[6*l+2], ws[6*l+3], ws[6*l+4], ws[6*l+5]
		n := rmsNorm(h)
		q, k, v := MatMul(n, wq), MatMul(n, wk), MatMul(n, wv)
		scores := MulScalar(DotGeneral(q, []int{2}, []int{0}, k, []int{2}, []int{0}), 1/math.Sqrt(tfD)) // [B,T,T]
		p := Softmax(Add(scores, maskBias), -1)
		att := DotGeneral(p, []int{2}, []int{0}, v, []int{1}, []int{0}) // [B,T,d]
		h = Add(h, MatMul(att, wo))
		n = rmsNorm(h)
		u := MatMul(n, w1)
		h = Add(h, MatMul(Mul(u, Sigmoid(u)), w2))
	}
	loss := ReduceAllMean(Square(Sub(h, y)))
	grads := Gradient(loss, ws...)
	outs := []*Node{loss}
	for i, w := range ws {
		outs = append(outs, Sub(w, MulScalar(grads[i], tfLR)))
	}
	return outs
}

// ShapeResult is the compile / recompile measurement for one sequence length.
type ShapeResult struct {
	SeqLen         int     `json:"seq_len"`
	PreCompileMs   float64 `json:"build_and_compile_ms"`
	FirstExecMs    float64 `json:"first_exec_after_compile_ms"`
	SteadyStepMs   float64 `json:"steady_step_ms_median"`
	Timing         Timing  `json:"steady_timing"`
	TokensPerSec   float64 `json:"tokens_per_sec"`
	ApproxGFlops   float64 `json:"approx_gflops"`
	RecompileSteps float64 `json:"compile_cost_in_steps"`
	CachedRecallMs float64 `json:"revisit_cached_shape_ms,omitempty"`
	NumGraphNodes  int     `json:"num_graph_nodes"`
}

// ShapesResult gathers the transformer-shape experiment.
type ShapesResult struct {
	Params                   int           `json:"params"`
	Layers                   int           `json:"layers"`
	Batch                    int           `json:"batch"`
	PerSeqLen                []ShapeResult `json:"per_seq_len"`
	CacheLimitHitAt          int           `json:"default_exec_cache_limit_error_at_distinct_shape"`
	CacheLimitError          string        `json:"cache_limit_error"`
	TinyGraphCompileMsMedian float64       `json:"tiny_graph_new_shape_ms_median"`
	ExecOverheadUs           float64       `json:"exec_call_overhead_us_scalar_add"`
}

type tfModel struct {
	backend backends.Backend
	exec    *Exec
	params  []*tensors.Tensor
}

func newTF(backend backends.Backend) *tfModel {
	rng := rand.New(rand.NewPCG(3, 3))
	m := &tfModel{backend: backend, exec: MustNewExec(backend, tfTrainGraph)}
	m.exec.SetMaxCache(-1)
	for _, s := range tfParamShapes() {
		m.params = append(m.params, tensors.FromFlatDataAndDimensions(
			randF32(rng, s[0]*s[1], float32(1/math.Sqrt(float64(s[0])))), s[0], s[1]))
	}
	return m
}

func (m *tfModel) args(x, y *tensors.Tensor) []any {
	args := []any{x, y}
	canDonate := !m.params[0].IsShared()
	for _, p := range m.params {
		if canDonate {
			args = append(args, must(DonateTensorBuffer(p, m.backend, 0)))
		} else {
			args = append(args, p)
		}
	}
	return args
}

func (m *tfModel) step(x, y *tensors.Tensor) float32 {
	loss, _ := m.stepGraph(x, y)
	return loss
}

func (m *tfModel) stepCountingNodes(x, y *tensors.Tensor) int {
	_, g := m.stepGraph(x, y)
	return len(g.Nodes())
}

func (m *tfModel) stepGraph(x, y *tensors.Tensor) (float32, *Graph) {
	wasShared := m.params[0].IsShared()
	outs, g := m.exec.MustExecWithGraph(m.args(x, y)...)
	if wasShared {
		for _, p := range m.params {
			p.MustFinalizeAll()
		}
	}
	loss := tensors.MustCopyFlatData[float32](outs[0])[0]
	outs[0].MustFinalizeAll()
	copy(m.params, outs[1:])
	return loss, g
}

func tfData(T int) (x, y *tensors.Tensor) {
	rng := rand.New(rand.NewPCG(uint64(T), 9))
	n := tfBatch * T * tfD
	return tensors.FromFlatDataAndDimensions(randF32(rng, n, 1), tfBatch, T, tfD),
		tensors.FromFlatDataAndDimensions(randF32(rng, n, 1), tfBatch, T, tfD)
}

func benchShapes(backend backends.Backend, seqLens []int) ShapesResult {
	res := ShapesResult{Params: tfNumParams(), Layers: tfLayers, Batch: tfBatch}
	m := newTF(backend)
	for _, T := range seqLens {
		x, y := tfData(T)
		var r ShapeResult
		r.SeqLen = T
		// Build + compile only (no execution) for this new shape.
		t0 := time.Now()
		if err := m.exec.PreCompile(m.argsNoDonate(x, y)...); err != nil {
			panic(err)
		}
		r.PreCompileMs = msSince(t0)
		t0 = time.Now()
		r.NumGraphNodes = m.stepCountingNodes(x, y)
		r.FirstExecMs = msSince(t0)
		r.Timing = measureReps(func() { m.step(x, y) }, 5)
		r.SteadyStepMs = r.Timing.MedianNs / 1e6
		r.TokensPerSec = float64(tfBatch*T) / (r.Timing.MedianNs / 1e9)
		r.ApproxGFlops = tfFlopPerStep(T) / r.Timing.MedianNs
		r.RecompileSteps = r.PreCompileMs / r.SteadyStepMs
		res.PerSeqLen = append(res.PerSeqLen, r)
		fmt.Printf("transformer T=%d: build+compile %.1f ms, first exec %.1f ms, steady %.1f ms/step (%.0f tok/s, ~%.2f GFLOP/s), nodes=%d\n",
			T, r.PreCompileMs, r.FirstExecMs, r.SteadyStepMs, r.TokensPerSec, r.ApproxGFlops, r.NumGraphNodes)
		x.MustFinalizeAll()
		y.MustFinalizeAll()
	}
	// Revisit the first sequence length: should hit the Exec cache.
	if len(seqLens) > 0 {
		x, y := tfData(seqLens[0])
		m.step(x, y)
		t0 := time.Now()
		m.step(x, y)
		res.PerSeqLen[0].CachedRecallMs = msSince(t0)
		x.MustFinalizeAll()
		y.MustFinalizeAll()
	}
	m.exec.Finalize()

	// Default Exec cache: 32 distinct shapes, then errors. Tiny graph, T=1..40.
	tiny := MustNewExec(backend, func(x *Node) *Node { return ReduceAllSum(Mul(x, x)) })
	var compileMs []float64
	for T := 1; T <= 40; T++ {
		x := tensors.FromFlatDataAndDimensions(make([]float32, T*tfD), T, tfD)
		t0 := time.Now()
		out, err := tiny.Exec1(x)
		el := msSince(t0)
		x.MustFinalizeAll()
		if err != nil {
			res.CacheLimitHitAt = T
			res.CacheLimitError = firstLine(err.Error())
			break
		}
		compileMs = append(compileMs, el)
		out.MustFinalizeAll()
	}
	tiny.Finalize()
	res.TinyGraphCompileMsMedian = median(compileMs)

	// Fixed per-call cost of executing a compiled graph: x+1 on a 1-element tensor.
	add1 := MustNewExec(backend, func(x *Node) *Node { return AddScalar(x, 1) })
	one := tensors.FromFlatDataAndDimensions([]float32{1}, 1)
	res.ExecOverheadUs = measure(func() { add1.MustExec1(one).MustFinalizeAll() }).MedianNs / 1e3
	add1.Finalize()
	one.MustFinalizeAll()
	fmt.Printf("per-call Exec overhead (1-element add): %.1f µs\n", res.ExecOverheadUs)
	fmt.Printf("tiny graph new-shape first call median %.2f ms; default cache limit error at distinct shape #%d: %s\n",
		res.TinyGraphCompileMsMedian, res.CacheLimitHitAt, res.CacheLimitError)
	return res
}

func (m *tfModel) argsNoDonate(x, y *tensors.Tensor) []any {
	args := []any{x, y}
	for _, p := range m.params {
		args = append(args, p)
	}
	return args
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	if len(s) > 300 {
		return s[:300]
	}
	return s
}
