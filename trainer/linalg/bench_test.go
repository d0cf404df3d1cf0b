package linalg

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchOp times one product and reports GFLOP/s (2·m·k·n per call).
func benchOp(b *testing.B, fn func(c, a, bm []float32, m, k, n int, acc bool), m, k, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	a, bm, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bm {
		bm[i] = rng.Float32()
	}
	fn(c, a, bm, m, k, n, false)
	b.ResetTimer()
	for b.Loop() {
		fn(c, a, bm, m, k, n, false)
	}
	b.ReportMetric(2*float64(m)*float64(k)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func par2(fn func(c, a, b []float32, m, k, n int, acc bool, workers int)) func(c, a, b []float32, m, k, n int, acc bool) {
	return func(c, a, b []float32, m, k, n int, acc bool) { fn(c, a, b, m, k, n, acc, 2) }
}

func BenchmarkMatMul_128x128x128(b *testing.B)   { benchOp(b, MatMul, 128, 128, 128) }
func BenchmarkMatMulBT_128x128x128(b *testing.B) { benchOp(b, MatMulBT, 128, 128, 128) }
func BenchmarkMatMulAT_128x128x128(b *testing.B) { benchOp(b, MatMulAT, 128, 128, 128) }
func BenchmarkMatMul_512x512x512(b *testing.B)   { benchOp(b, MatMul, 512, 512, 512) }
func BenchmarkMatMulBT_512x512x512(b *testing.B) { benchOp(b, MatMulBT, 512, 512, 512) }
func BenchmarkMatMulAT_512x512x512(b *testing.B) { benchOp(b, MatMulAT, 512, 512, 512) }

// Decoding: one token through a 128-wide layer and the 267-way head.
func BenchmarkMatMulBT_1x128x128(b *testing.B) { benchOp(b, MatMulBT, 1, 128, 128) }
func BenchmarkMatMulBT_1x128x267(b *testing.B) { benchOp(b, MatMulBT, 1, 128, 267) }

func BenchmarkParMatMulBT_512x512x512(b *testing.B) { benchOp(b, par2(ParMatMulBT), 512, 512, 512) }

// BenchmarkModel runs the model's shapes (T tokens, width d, FFN f,
// vocabulary V) on every kernel family this machine has.
func BenchmarkModel(b *testing.B) {
	const T, d, f, V = 512, 128, 344, 267
	type sh struct {
		name    string
		fn      func(c, a, b []float32, m, k, n int, acc bool)
		m, k, n int
	}
	list := []sh{
		{"BT", MatMulBT, T, d, d}, {"BT", MatMulBT, T, d, f}, {"BT", MatMulBT, T, f, d}, {"BT", MatMulBT, T, d, V},
		{"NN", MatMul, T, d, d}, {"NN", MatMul, T, f, d}, {"NN", MatMul, T, d, f}, {"NN", MatMul, T, V, d},
		{"AT", MatMulAT, d, T, d}, {"AT", MatMulAT, f, T, d}, {"AT", MatMulAT, d, T, f}, {"AT", MatMulAT, V, T, d},
		{"BT", MatMulBT, 1, d, d}, {"BT", MatMulBT, 1, d, f}, {"BT", MatMulBT, 1, f, d}, {"BT", MatMulBT, 1, d, V},
		{"BT", MatMulBT, 8, d, d}, {"BT", MatMulBT, 32, d, d}, {"BT", MatMulBT, 64, 64, 64},
	}
	for _, i := range isas() {
		for _, s := range list {
			b.Run(fmt.Sprintf("%v/%s_%dx%dx%d", i, s.name, s.m, s.k, s.n), func(b *testing.B) {
				setISA(b, i)
				benchOp(b, s.fn, s.m, s.k, s.n)
			})
		}
	}
}

// BenchmarkDotMaxM is how dotMaxM was chosen: MatMulBT for small m through
// the dot-product kernels (m ≤ dotMaxM) or through packing B (dotMaxM = 0).
func BenchmarkDotMaxM(b *testing.B) {
	for _, dm := range []int{0, 1 << 30} {
		for _, m := range []int{2, 4, 8, 16, 24, 32, 64} {
			b.Run(fmt.Sprintf("dotMaxM=%d/BT_%dx128x128", dm, m), func(b *testing.B) {
				setVar(b, &dotMaxM, dm)
				benchOp(b, MatMulBT, m, 128, 128)
			})
		}
	}
}
