package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/mat"
)

// MatmulResult holds the timings of one C[m×n] = A[m×k]·B[k×n] shape.
type MatmulResult struct {
	M, K, N int
	Flop    float64            `json:"flop"`
	Impls   map[string]Timing  `json:"impls"`
	GFlops  map[string]float64 `json:"gflops"`
	MaxDiff map[string]float64 `json:"max_abs_diff_vs_loop_ikj"`
}

// Implementation names, in table order.
var matmulImpls = []string{
	"gomlx_simplego_f32",
	"gonum_blas32_sgemm_f32",
	"gonum_mat_dense_mul_f64",
	"go_loop_ikj_f32",
	"go_loop_ijk_f32",
}

func randF32(rng *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (rng.Float32()*2 - 1) * scale
	}
	return v
}

// loopIKJ is the plain Go i-k-j (axpy) triple loop -- the same loop order as
// trainer/linalg.MatMul at the time of writing.
func loopIKJ(c, a, b []float32, m, k, n int) {
	for i := 0; i < m; i++ {
		ci := c[i*n : (i+1)*n]
		clear(ci)
		for p := 0; p < k; p++ {
			av := a[i*k+p]
			bp := b[p*n : (p+1)*n]
			for j := range ci {
				ci[j] += av * bp[j]
			}
		}
	}
}

// loopIJK is the textbook i-j-k triple loop (strided access of B).
func loopIJK(c, a, b []float32, m, k, n int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[i*k+p] * b[p*n+j]
			}
			c[i*n+j] = s
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func benchMatmul(backend backends.Backend, m, k, n int) MatmulResult {
	rng := rand.New(rand.NewPCG(uint64(m*1000+k), uint64(n)))
	a := randF32(rng, m*k, 1)
	b := randF32(rng, k*n, 1)
	flop := 2 * float64(m) * float64(k) * float64(n)
	res := MatmulResult{M: m, K: k, N: n, Flop: flop,
		Impls: map[string]Timing{}, GFlops: map[string]float64{}, MaxDiff: map[string]float64{}}
	record := func(name string, t Timing) {
		res.Impls[name] = t
		res.GFlops[name] = flop / t.MedianNs
	}

	ref := make([]float32, m*n)
	loopIKJ(ref, a, b, m, k, n)

	// GoMLX: compiled graph executed repeatedly. Inputs are tensors already
	// materialised on the (CPU) device; each call's output is released.
	exec := MustNewExec(backend, func(x, y *Node) *Node { return Dot(x, y) })
	at := tensors.FromFlatDataAndDimensions(append([]float32(nil), a...), m, k)
	bt := tensors.FromFlatDataAndDimensions(append([]float32(nil), b...), k, n)
	out := exec.MustExec1(at, bt)
	res.MaxDiff["gomlx_simplego_f32"] = maxAbsDiff(tensors.MustCopyFlatData[float32](out), ref)
	out.MustFinalizeAll()
	fns := map[string]func(){}
	fns["gomlx_simplego_f32"] = func() {
		o := exec.MustExec1(at, bt)
		o.MustFinalizeAll()
	}
	defer func() {
		exec.Finalize()
		at.MustFinalizeAll()
		bt.MustFinalizeAll()
	}()

	// gonum blas32 (float32, pure-Go gonum implementation).
	c32 := make([]float32, m*n)
	ga := blas32.General{Rows: m, Cols: k, Stride: k, Data: a}
	gb := blas32.General{Rows: k, Cols: n, Stride: n, Data: b}
	gc := blas32.General{Rows: m, Cols: n, Stride: n, Data: c32}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, ga, gb, 0, gc)
	res.MaxDiff["gonum_blas32_sgemm_f32"] = maxAbsDiff(c32, ref)
	fns["gonum_blas32_sgemm_f32"] = func() {
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, ga, gb, 0, gc)
	}

	// gonum mat.Dense (float64).
	a64 := make([]float64, len(a))
	b64 := make([]float64, len(b))
	for i, v := range a {
		a64[i] = float64(v)
	}
	for i, v := range b {
		b64[i] = float64(v)
	}
	da, db := mat.NewDense(m, k, a64), mat.NewDense(k, n, b64)
	dc := mat.NewDense(m, n, nil)
	dc.Mul(da, db)
	var d64 float64
	for i := range m {
		for j := range n {
			d64 = math.Max(d64, math.Abs(dc.At(i, j)-float64(ref[i*n+j])))
		}
	}
	res.MaxDiff["gonum_mat_dense_mul_f64"] = d64
	fns["gonum_mat_dense_mul_f64"] = func() { dc.Mul(da, db) }

	// Plain Go loops.
	c := make([]float32, m*n)
	res.MaxDiff["go_loop_ikj_f32"] = 0
	fns["go_loop_ikj_f32"] = func() { loopIKJ(c, a, b, m, k, n) }
	c2 := make([]float32, m*n)
	loopIJK(c2, a, b, m, k, n)
	res.MaxDiff["go_loop_ijk_f32"] = maxAbsDiff(c2, ref)
	fns["go_loop_ijk_f32"] = func() { loopIJK(c2, a, b, m, k, n) }

	list := make([]func(), len(matmulImpls))
	for i, name := range matmulImpls {
		list[i] = fns[name]
	}
	for i, t := range measureGroup(list, numReps) {
		record(matmulImpls[i], t)
	}

	fmt.Printf("matmul %dx%d·%dx%d:", m, k, k, n)
	for _, name := range matmulImpls {
		fmt.Printf("  %s=%.2f GFLOP/s", name, res.GFlops[name])
	}
	fmt.Println()
	return res
}
