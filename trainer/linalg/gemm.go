package linalg

import "sync"

// isa names a kernel family.
type isa int

const (
	isaGo     isa = iota // portable Go loops
	isaAVX2              // AVX2 + FMA, 256-bit
	isaAVX512            // AVX-512 F/BW/VL + FMA, 512-bit
)

func (i isa) String() string {
	switch i {
	case isaAVX2:
		return "avx2"
	case isaAVX512:
		return "avx512"
	}
	return "go"
}

// best is what this machine supports; active is what the functions use.
// Tests lower active to check every path (see setISA); nothing else
// changes it, so reading it concurrently is safe.
var (
	best   = detect()
	active = best
)

// ISA reports the kernel family in use: "avx512", "avx2" or "go".
func ISA() string { return active.String() }

type gemmKernel func(mr, k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, nr int, acc bool)

// kernelSet is one instruction set's kernels and their tile shape.
type kernelSet struct {
	isa isa
	// mr×nr is the largest tile gemmRow/gemmCol compute; they take any
	// row count 1..mr and any column count 1..nr.
	mr, nr int
	// maskedB: the gemm kernels load B with the column mask, so an edge
	// panel needs no padding (AVX-512); otherwise they read nr full
	// columns and an edge panel must be copied into a padded buffer.
	maskedB bool
	// dot computes up to dotMR rows of A against 4 rows of B (A·Bᵀ).
	dotMR            int
	gemmRow, gemmCol gemmKernel
	dot              gemmKernel
	dotVec           func(a, b *float32, n int) float32
	axpyVec          func(alpha float32, x, y *float32, n int)
	transpose8       func(dst *float32, ldd int, src *float32, lds int, nblk int)
}

// Blocking, chosen by measurement on the model's shapes (see
// bench_test.go and bench/matmul). A is never packed: the kernels
// broadcast its elements straight from the caller's rows (or, for
// MatMulAT, from Aᵀ's rows, which is what a packed panel would hold), and
// B is read in place unless it must be transposed. Copying A into
// panels, or B into contiguous panels, measured no faster on these
// shapes: at m, k, n ≤ 512 the operands already sit in L2.
//
//   - kc: the depth of one pass; 384 takes every model width (≤ 344) in
//     one pass, and measured as fast as 256 or 512 on 512³. The B panel of
//     a pass (kc×32 floats) is what the A rows stream past, from L1/L2.
//   - mc: rows of A per pass, so that mc×kc of A (768 KiB) stays in L2.
//   - nc: columns per pass, bounding the packing buffer (kc×nc floats).
//   - dotMaxM: MatMulBT with m ≤ dotMaxM uses the dot-product kernels on
//     the unpacked operands; packing B (a transpose) only pays once
//     enough rows of A reuse it (break-even near m = 16-32 at k = 128).
var (
	kc      = 384
	mc      = 512
	nc      = 1024
	dotMaxM = 16
)

// bufPool recycles packing buffers: the functions are called from many
// goroutines at once, so each call borrows its own.
var bufPool sync.Pool

func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n, n+n/4)
	return &s
}

func putBuf(p *[]float32) { bufPool.Put(p) }

// gemm computes C (+)= op(A)·op(B) for C m×n with leading dimension ldc,
// where op(A)(i,p) is a[p*lda+i] if aT else a[i*lda+p], and op(B)(p,j) is
// b[j*ldb+p] if bT else b[p*ldb+j]. The slices start at the origin of
// each operand. Single-threaded; m, n, k > 0.
func gemm(ks *kernelSet, m, n, k int, a []float32, lda int, aT bool, b []float32, ldb int, bT bool, c []float32, ldc int, acc bool) {
	if bT && !aT && m <= dotMaxM {
		dotGemm(ks, m, n, k, a, lda, b, ldb, c, ldc, acc)
		return
	}
	kern := ks.gemmRow
	if aT {
		kern = ks.gemmCol
	}
	NR := ks.nr
	// B needs packing when it is transposed (the kernels read B's rows
	// as vectors) and, without masked loads, for a partial edge panel.
	needPack := bT || (!ks.maskedB && n%NR != 0)
	// Column blocks are whole panels, so only the last panel of the
	// matrix can be partial.
	ncBlock := max(NR, nc/NR*NR)
	var buf *[]float32
	if needPack {
		buf = getBuf(min(kc, k) * roundUp(min(ncBlock, n), NR))
		defer putBuf(buf)
	}
	for jc := 0; jc < n; jc += ncBlock {
		ncb := min(ncBlock, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			accb := acc || pc > 0
			var packed []float32
			if needPack {
				packed = (*buf)[:kcb*roundUp(ncb, NR)]
				if bT {
					packBT(ks, packed, b[jc*ldb+pc:], ldb, kcb, ncb, NR)
				} else if rem := ncb % NR; rem != 0 {
					// Only the edge panel: full panels are read in place.
					full := ncb - rem
					packB(packed[full*kcb:], b[pc*ldb+jc+full:], ldb, kcb, rem, NR)
				}
			}
			for ic := 0; ic < m; ic += mc {
				mcb := min(mc, m-ic)
				// Split mcb rows into tiles of near-equal height (13 rows
				// make 7+6, not 12+1: a one-row tile wastes the FMA units).
				tiles := (mcb + ks.mr - 1) / ks.mr
				for jr := 0; jr < ncb; jr += NR {
					nr := min(NR, ncb-jr)
					var bp *float32
					var ldbp int
					if bT || (needPack && nr < NR) {
						bp, ldbp = &packed[jr*kcb], NR
					} else {
						bp, ldbp = &b[pc*ldb+jc+jr], ldb
					}
					i := ic
					for t := 0; t < tiles; t++ {
						mr := mcb / tiles
						if t < mcb%tiles {
							mr++
						}
						var ap *float32
						if aT {
							ap = &a[pc*lda+i]
						} else {
							ap = &a[i*lda+pc]
						}
						kern(mr, kcb, ap, lda, bp, ldbp, &c[i*ldc+jc+jr], ldc, nr, accb)
						i += mr
					}
				}
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packBT packs the k×n block of op(B) = Bᵀ, stored as B's rows b[j*ldb+p],
// into panels of NR columns: panel q holds dst[q*NR*k + p*NR + jj] =
// B(q*NR+jj, p). Full 8×8 blocks go through the assembly transpose; the
// ragged edges are copied one by one. Columns past n in the last panel
// are zeroed, so even kernels that read them unmasked compute on zeros.
func packBT(ks *kernelSet, dst, b []float32, ldb, k, n, NR int) {
	k8 := k &^ 7
	for j0 := 0; j0 < n; j0 += NR {
		panel := dst[j0*k : (j0+NR)*k]
		nr := min(NR, n-j0)
		jj := 0
		if k8 > 0 {
			for ; jj+8 <= nr; jj += 8 {
				ks.transpose8(&panel[jj], NR, &b[(j0+jj)*ldb], ldb, k8/8)
			}
		}
		for ; jj < nr; jj++ { // rows of B not in a full 8-block
			row := b[(j0+jj)*ldb:]
			for p := 0; p < k8; p++ {
				panel[p*NR+jj] = row[p]
			}
		}
		for p := k8; p < k; p++ { // columns of B past the last 8-block
			d := panel[p*NR : p*NR+nr]
			for jj := range d {
				d[jj] = b[(j0+jj)*ldb+p]
			}
		}
		if nr < NR {
			for p := 0; p < k; p++ {
				clear(panel[p*NR+nr : (p+1)*NR])
			}
		}
	}
}

// packB copies a k×nr block of row-major B into a panel of width NR,
// zero-padded.
func packB(dst, b []float32, ldb, k, nr, NR int) {
	for p := 0; p < k; p++ {
		d := dst[p*NR : (p+1)*NR]
		copy(d, b[p*ldb:p*ldb+nr])
		clear(d[nr:])
	}
}

// dotGemm computes C (+)= A·Bᵀ for small m with the dot-product kernels:
// four rows of B at a time (kept in L1) against all rows of A. A last
// group of fewer than four B rows is copied into a zero-padded buffer
// because the kernel always reads four.
func dotGemm(ks *kernelSet, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	n4 := n &^ 3
	for j := 0; j < n4; j += 4 {
		for i := 0; i < m; i += ks.dotMR {
			mr := min(ks.dotMR, m-i)
			ks.dot(mr, k, &a[i*lda], lda, &b[j*ldb], ldb, &c[i*ldc+j], ldc, 4, acc)
		}
	}
	if n4 == n {
		return
	}
	rem := n - n4
	buf := getBuf(4 * k)
	defer putBuf(buf)
	pad := *buf
	for r := 0; r < 4; r++ {
		if r < rem {
			copy(pad[r*k:(r+1)*k], b[(n4+r)*ldb:(n4+r)*ldb+k])
		} else {
			clear(pad[r*k : (r+1)*k])
		}
	}
	for i := 0; i < m; i += ks.dotMR {
		mr := min(ks.dotMR, m-i)
		ks.dot(mr, k, &a[i*lda], lda, &pad[0], k, &c[i*ldc+n4], ldc, rem, acc)
	}
}
