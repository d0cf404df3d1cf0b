package linalg

// MatMul computes C = A·B, or C += A·B when accumulate is set.
// A is m×k, B is k×n, C is m×n.
func MatMul(c, a, b []float32, m, k, n int, accumulate bool) {
	for i := 0; i < m; i++ {
		ci := c[i*n : (i+1)*n]
		if !accumulate {
			clear(ci)
		}
		for p := 0; p < k; p++ {
			Axpy(a[i*k+p], b[p*n:(p+1)*n], ci)
		}
	}
}

// MatMulBT computes C = A·Bᵀ (or +=): A is m×k, B is n×k, C is m×n. A
// linear layer's forward pass with its weight stored out×in, as Hugging
// Face stores it.
func MatMulBT(c, a, b []float32, m, k, n int, accumulate bool) {
	for i := 0; i < m; i++ {
		ai := a[i*k : (i+1)*k]
		for j := 0; j < n; j++ {
			v := Dot(ai, b[j*k:(j+1)*k])
			if accumulate {
				c[i*n+j] += v
			} else {
				c[i*n+j] = v
			}
		}
	}
}

// MatMulAT computes C = Aᵀ·B (or +=): A is k×m, B is k×n, C is m×n. A
// linear layer's weight gradient: dW = dYᵀ·X.
func MatMulAT(c, a, b []float32, m, k, n int, accumulate bool) {
	if !accumulate {
		clear(c[:m*n])
	}
	for p := 0; p < k; p++ {
		bp := b[p*n : (p+1)*n]
		for i := 0; i < m; i++ {
			Axpy(a[p*m+i], bp, c[i*n:(i+1)*n])
		}
	}
}

// Dot returns Σ a[i]·b[i] over len(a) elements.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// Axpy computes y += alpha·x over len(x) elements.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
