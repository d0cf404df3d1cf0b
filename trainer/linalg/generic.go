package linalg

// The portable path: plain Go loops, used off amd64, on CPUs without
// AVX2+FMA, and (forced) by the tests. Each loop runs over contiguous
// rows, in the order that keeps the innermost loop unit-stride.

// gemmGo computes what gemm computes (see there), for any layout but
// aT && bT, which no caller needs.
func gemmGo(m, n, k int, a []float32, lda int, aT bool, b []float32, ldb int, bT bool, c []float32, ldc int, acc bool) {
	switch {
	case !aT && !bT: // C row i = Σ_p A(i,p)·(B row p)
		for i := 0; i < m; i++ {
			ci := c[i*ldc : i*ldc+n]
			if !acc {
				clear(ci)
			}
			for p := 0; p < k; p++ {
				axpyGo(a[i*lda+p], b[p*ldb:p*ldb+n], ci)
			}
		}
	case !aT && bT: // C(i,j) = (A row i)·(B row j)
		for i := 0; i < m; i++ {
			ai := a[i*lda : i*lda+k]
			ci := c[i*ldc : i*ldc+n]
			for j := range ci {
				v := dotGo(ai, b[j*ldb:j*ldb+k])
				if acc {
					ci[j] += v
				} else {
					ci[j] = v
				}
			}
		}
	case aT && !bT: // C row i += A(p,i)·(B row p), p outermost to stream B
		if !acc {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		for p := 0; p < k; p++ {
			bp := b[p*ldb : p*ldb+n]
			for i := 0; i < m; i++ {
				axpyGo(a[p*lda+i], bp, c[i*ldc:i*ldc+n])
			}
		}
	default:
		panic("linalg: gemmGo: Aᵀ·Bᵀ not supported")
	}
}

// dotGo uses four partial sums: independent additions pipeline, where a
// single running sum waits on each one.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += alpha * x[i]
		y[i+1] += alpha * x[i+1]
		y[i+2] += alpha * x[i+2]
		y[i+3] += alpha * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}
