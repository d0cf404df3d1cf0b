package model

import (
	"math"

	"github.com/retool-rl/retool/trainer/linalg"
)

// rmsNorm sets out[t] = x[t]·r[t]·w with r[t] = 1/sqrt(mean(x[t]²)+eps)
// for the n rows of x (d wide), and keeps r for the backward pass (r may
// be nil at inference).
func rmsNorm(out, r, x, w []float32, n, d int, eps float64) {
	for t := range n {
		xt, ot := x[t*d:(t+1)*d], out[t*d:(t+1)*d]
		var ss float64
		for _, v := range xt {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
		if r != nil {
			r[t] = inv
		}
		for i, v := range xt {
			ot[i] = v * inv * w[i]
		}
	}
}

// rmsNormBackward adds to dx and dw the gradients of rmsNorm given dy:
// with y = w·x·r, dx = r·(w·dy) − x·r³·Σ(w·dy·x)/d and dw = Σ_t dy·x·r.
func rmsNormBackward(dx, dw, dy, x, r, w []float32, n, d int) {
	for t := range n {
		xt, dyt, dxt := x[t*d:(t+1)*d], dy[t*d:(t+1)*d], dx[t*d:(t+1)*d]
		rt := r[t]
		var s float64
		for i, v := range xt {
			g := dyt[i]
			dw[i] += g * v * rt
			s += float64(g * w[i] * v)
		}
		c := float32(s/float64(d)) * rt * rt * rt
		for i, v := range xt {
			dxt[i] += rt*w[i]*dyt[i] - c*v
		}
	}
}

// rope rotates n rows of one head (hd wide, contiguous) at positions
// pos0, pos0+1, … by Hugging Face's rotate_half convention: dimension i
// pairs with i+hd/2. inverse applies the transposed rotation (the
// backward pass).
func (m *Model) rope(x []float32, pos0, n int, inverse bool) {
	hd := m.cfg.HeadDim
	half := hd / 2
	for t := range n {
		p := (pos0 + t) * half
		cos, sin := m.ropeCos[p:p+half], m.ropeSin[p:p+half]
		a, b := x[t*hd:t*hd+half], x[t*hd+half:(t+1)*hd]
		for i := range half {
			c, s := cos[i], sin[i]
			if inverse {
				s = -s
			}
			x1, x2 := a[i], b[i]
			a[i] = x1*c - x2*s
			b[i] = x2*c + x1*s
		}
	}
}

// splitHeads copies the n rows of x ([n, H·hd], head h at columns
// h·hd…) into dst, head-major ([H][stride][hd], rows from row0): the
// attention's matrix products want each head contiguous.
func splitHeads(dst, x []float32, n, heads, hd, stride, row0 int) {
	d := heads * hd
	for h := range heads {
		base := (h*stride + row0) * hd
		for t := range n {
			copy(dst[base+t*hd:base+(t+1)*hd], x[t*d+h*hd:t*d+(h+1)*hd])
		}
	}
}

// mergeHeads is splitHeads' inverse: head-major src into [n, H·hd] x.
func mergeHeads(x, src []float32, n, heads, hd, stride, row0 int) {
	d := heads * hd
	for h := range heads {
		base := (h*stride + row0) * hd
		for t := range n {
			copy(x[t*d+h*hd:t*d+(h+1)*hd], src[base+t*hd:base+(t+1)*hd])
		}
	}
}

// attnBlock is the causal attention of one head for b queries at
// positions q0…q0+b-1 (q, [b, hd]) over the keys and values of positions
// 0…q0+b-1 (k and v, [q0+b, hd]): out[i] = softmax(scale·q_i·kᵀ) v over
// the keys up to q0+i. It returns each row's log-sum-exp in lse, from
// which the backward pass recomputes the probabilities rather than
// storing them (b·n floats a layer). s is scratch of b·(q0+b).
func attnBlock(out, lse, q, k, v []float32, b, q0, hd int, scale float32, s []float32) {
	n := q0 + b
	s = s[:b*n]
	if b == 1 {
		// Decoding: a matrix-vector product gains nothing from the
		// blocked kernels' packing; plain dot products and axpys do.
		for j := range n {
			s[j] = linalg.Dot(q[:hd], k[j*hd:(j+1)*hd])
		}
	} else {
		linalg.MatMulBT(s, q, k, b, hd, n, false)
	}
	for i := range b {
		row := s[i*n : (i+1)*n]
		vis := row[:q0+i+1]
		mx := float32(math.Inf(-1))
		for j, v := range vis {
			v *= scale
			vis[j] = v
			mx = max(mx, v)
		}
		var sum float32
		for j, v := range vis {
			e := expf(v - mx)
			vis[j] = e
			sum += e
		}
		inv := 1 / sum
		for j := range vis {
			vis[j] *= inv
		}
		clear(row[q0+i+1:])
		lse[i] = mx + float32(math.Log(float64(sum)))
	}
	if b == 1 {
		clear(out[:hd])
		for j, p := range s {
			linalg.Axpy(p, v[j*hd:(j+1)*hd], out[:hd])
		}
		return
	}
	linalg.MatMul(out, s, v, b, n, hd, false)
}

// attnBlockBackward adds the gradients of attnBlock to dq (b rows, set,
// not added), dk and dv (q0+b rows, added), given dout and out. p and dp
// are scratch of b·(q0+b). With P the probabilities and dP = dO·Vᵀ, the
// scores' gradient is P·(dP − Σ_j P·dP), and Σ_j P·dP = dO·O per row.
func attnBlockBackward(dq, dk, dv, dout, out, lse, q, k, v []float32, b, q0, hd int, scale float32, p, dp []float32) {
	n := q0 + b
	p, dp = p[:b*n], dp[:b*n]
	linalg.MatMulBT(p, q, k, b, hd, n, false)
	linalg.MatMulBT(dp, dout, v, b, hd, n, false)
	for i := range b {
		pr, dpr := p[i*n:(i+1)*n], dp[i*n:(i+1)*n]
		vis := q0 + i + 1
		D := linalg.Dot(dout[i*hd:(i+1)*hd], out[i*hd:(i+1)*hd])
		l := lse[i]
		for j := range vis {
			pj := expf(pr[j]*scale - l)
			pr[j] = pj
			dpr[j] = pj * (dpr[j] - D) * scale
		}
		clear(pr[vis:])
		clear(dpr[vis:])
	}
	linalg.MatMul(dq, dp, k, b, n, hd, false)
	linalg.MatMulAT(dk, dp, q, n, b, hd, true)
	linalg.MatMulAT(dv, p, dout, n, b, hd, true)
}

// expf is e^x in float32 (Cephes' expf: relative error about 1e-7),
// several times faster than math.Exp in the softmaxes and SiLUs.
func expf(x float32) float32 {
	if !(x >= -87.33 && x <= 88) {
		return expEdge(x)
	}
	// e^x = 2^n · e^r with n = round(x/ln 2), |r| ≤ ln(2)/2; adding
	// 1.5·2^23 rounds to an integer, and ln 2 is split in two parts so
	// that r keeps its precision.
	const magic = 12582912
	n := (x*1.44269504088896341 + magic) - magic
	r := x - n*0.693359375 - n*-2.12194440e-4
	y := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y = y*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// expEdge is expf outside the polynomial's range: NaN, underflow (0
// below the smallest normal float32) and near or past overflow.
func expEdge(x float32) float32 {
	if x < -87.33 {
		return 0
	}
	return float32(math.Exp(float64(x)))
}

func sigmoid(x float32) float32 { return 1 / (1 + expf(-x)) }

// swiGLU sets act = silu(gate)·up.
func swiGLU(act, gate, up []float32) {
	for i, g := range gate {
		act[i] = g * sigmoid(g) * up[i]
	}
}

// logSoftmax returns log Σ exp(z) and the entropy of softmax(z), in
// float64, and writes the probabilities into p when it is not nil.
func logSoftmax(z, p []float32) (lse, entropy float64) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, float64(v))
	}
	var sum, sz float64
	for _, v := range z {
		e := math.Exp(float64(v) - mx)
		sum += e
		sz += e * float64(v)
	}
	lse = mx + math.Log(sum)
	entropy = lse - sz/sum
	if p != nil {
		for i, v := range z {
			p[i] = float32(math.Exp(float64(v) - lse))
		}
	}
	return lse, entropy
}
