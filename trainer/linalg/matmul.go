package linalg

import "fmt"

// All functions here are single-threaded and safe for concurrent use:
// they keep no state but pooled scratch buffers. They touch only the
// m×n region of c (its first m*n elements), and panic, like an index out
// of range would, when a slice is too short.

// MatMul computes C = A·B, or C += A·B when accumulate is set.
// A is m×k, B is k×n, C is m×n.
func MatMul(c, a, b []float32, m, k, n int, accumulate bool) {
	check("MatMul", c, a, b, m, k, n)
	run(m, n, k, a, k, false, b, n, false, c, n, accumulate)
}

// MatMulBT computes C = A·Bᵀ (or +=): A is m×k, B is n×k, C is m×n. A
// linear layer's forward pass with its weight stored out×in, as Hugging
// Face stores it.
func MatMulBT(c, a, b []float32, m, k, n int, accumulate bool) {
	check("MatMulBT", c, a, b, m, k, n)
	run(m, n, k, a, k, false, b, k, true, c, n, accumulate)
}

// MatMulAT computes C = Aᵀ·B (or +=): A is k×m, B is k×n, C is m×n. A
// linear layer's weight gradient: dW = dYᵀ·X.
func MatMulAT(c, a, b []float32, m, k, n int, accumulate bool) {
	check("MatMulAT", c, a, b, m, k, n)
	run(m, n, k, a, m, true, b, n, false, c, n, accumulate)
}

// Dot returns Σ a[i]·b[i] over len(a) elements.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	if ks := kernelsFor(active); ks != nil && len(a) > 0 {
		return ks.dotVec(&a[0], &b[0], len(a))
	}
	return dotGo(a, b)
}

// Axpy computes y += alpha·x over len(x) elements.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if ks := kernelsFor(active); ks != nil && len(x) > 0 {
		ks.axpyVec(alpha, &x[0], &y[0], len(x))
		return
	}
	axpyGo(alpha, x, y)
}

// ParMatMul is MatMul split over up to workers goroutines, each computing
// its own block of C. Products too small to repay starting goroutines
// run on the calling one.
func ParMatMul(c, a, b []float32, m, k, n int, accumulate bool, workers int) {
	check("ParMatMul", c, a, b, m, k, n)
	par(m, n, k, a, k, false, b, n, false, c, n, accumulate, workers)
}

// ParMatMulBT is MatMulBT split over up to workers goroutines.
func ParMatMulBT(c, a, b []float32, m, k, n int, accumulate bool, workers int) {
	check("ParMatMulBT", c, a, b, m, k, n)
	par(m, n, k, a, k, false, b, k, true, c, n, accumulate, workers)
}

// ParMatMulAT is MatMulAT split over up to workers goroutines.
func ParMatMulAT(c, a, b []float32, m, k, n int, accumulate bool, workers int) {
	check("ParMatMulAT", c, a, b, m, k, n)
	par(m, n, k, a, m, true, b, n, false, c, n, accumulate, workers)
}

func check(name string, c, a, b []float32, m, k, n int) {
	if m < 0 || k < 0 || n < 0 {
		panic(fmt.Sprintf("linalg: %s: negative size m=%d k=%d n=%d", name, m, k, n))
	}
	if m*n == 0 {
		return // an empty product touches nothing
	}
	if len(a) < m*k || len(b) < k*n || len(c) < m*n {
		panic(fmt.Sprintf("linalg: %s: m=%d k=%d n=%d needs len(a) ≥ %d, len(b) ≥ %d, len(c) ≥ %d; have %d, %d, %d",
			name, m, k, n, m*k, k*n, m*n, len(a), len(b), len(c)))
	}
}

// run dispatches one single-threaded product (arguments as for gemm).
func run(m, n, k int, a []float32, lda int, aT bool, b []float32, ldb int, bT bool, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !acc {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	if ks := kernelsFor(active); ks != nil {
		gemm(ks, m, n, k, a, lda, aT, b, ldb, bT, c, ldc, acc)
		return
	}
	gemmGo(m, n, k, a, lda, aT, b, ldb, bT, c, ldc, acc)
}
