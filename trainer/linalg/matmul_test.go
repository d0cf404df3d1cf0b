package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// op is one of the three products, in the public API's terms.
type op struct {
	name string
	fn   func(c, a, b []float32, m, k, n int, acc bool)
	par  func(c, a, b []float32, m, k, n int, acc bool, workers int)
	// at/bt: A is stored k×m / B is stored n×k.
	at, bt bool
}

var ops = []op{
	{"MatMul", MatMul, ParMatMul, false, false},
	{"MatMulBT", MatMulBT, ParMatMulBT, false, true},
	{"MatMulAT", MatMulAT, ParMatMulAT, true, false},
}

// isas returns the kernel families this machine can run, the portable
// one included.
func isas() []isa {
	out := []isa{isaGo}
	for i := isaAVX2; i <= best; i++ {
		if kernelsFor(i) != nil {
			out = append(out, i)
		}
	}
	return out
}

// setISA forces a kernel family for the rest of the test.
func setISA(t testing.TB, i isa) {
	t.Helper()
	old := active
	active = i
	t.Cleanup(func() { active = old })
}

// setVar sets a tuning variable for the rest of the test.
func setVar(t testing.TB, p *int, v int) {
	t.Helper()
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// problem is one product's inputs: a, b and c longer than m×k, k×n, m×n,
// their tails filled with values a kernel reading them would notice.
type problem struct {
	m, k, n int
	acc     bool
	a, b, c []float32
}

const extra = 37 // elements past the end of each operand

func newProblem(rng *rand.Rand, m, k, n int, acc bool) *problem {
	p := &problem{m: m, k: k, n: n, acc: acc}
	fill := func(size int) []float32 {
		s := make([]float32, size+extra)
		for i := range s {
			if i < size {
				s[i] = float32(rng.NormFloat64())
			} else {
				s[i] = 1e30
			}
		}
		return s
	}
	p.a, p.b, p.c = fill(m*k), fill(k*n), fill(m*n)
	if !acc {
		// C = A·B must overwrite C, NaN included.
		for i := 0; i < m*n; i++ {
			p.c[i] = float32(math.NaN())
		}
	}
	return p
}

// ref computes the product in float64 and, per element, a bound on the
// float32 rounding error: k·ε·Σ|a·b| (with slack for the summation order).
func (p *problem) ref(o op) (want, tol []float64) {
	m, k, n := p.m, p.k, p.n
	want = make([]float64, m*n)
	tol = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for q := 0; q < k; q++ {
				av := p.a[i*k+q]
				if o.at {
					av = p.a[q*m+i]
				}
				bv := p.b[q*n+j]
				if o.bt {
					bv = p.b[j*k+q]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			if p.acc {
				s += float64(p.c[i*n+j])
				sa += math.Abs(float64(p.c[i*n+j]))
			}
			want[i*n+j] = s
			tol[i*n+j] = 4*float64(k+1)*0x1p-24*sa + 1e-30
		}
	}
	return want, tol
}

// verify checks got (a copy of c after the call) against the reference
// and that nothing past m×n changed.
func (p *problem) verify(t *testing.T, what string, got []float32, want, tol []float64) {
	t.Helper()
	mn := p.m * p.n
	bad := 0
	for i := 0; i < mn; i++ {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol[i]) {
			if bad < 3 {
				t.Errorf("%s: C[%d,%d] = %g, want %g (tol %g)", what, i/p.n, i%p.n, got[i], want[i], tol[i])
			}
			bad++
		}
	}
	for i := mn; i < len(got); i++ {
		if got[i] != 1e30 {
			t.Errorf("%s: wrote c[%d] = %g, past the m×n region", what, i, got[i])
			break
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d wrong elements in all", what, bad)
	}
}

// run calls fn on a fresh copy of C and verifies it.
func (p *problem) run(t *testing.T, what string, fn func(c []float32), want, tol []float64) {
	t.Helper()
	c := append([]float32(nil), p.c...)
	fn(c)
	p.verify(t, what, c, want, tol)
}

type shape struct{ m, k, n int }

// shapes: every combination of small and odd sizes (so each kernel edge
// and tail is hit), the model's shapes, and a few that cross the blocking
// (k > kc, m > mc, n > nc).
func shapes() []shape {
	var out []shape
	for _, m := range []int{1, 2, 3, 4, 5, 7, 13, 17, 33, 65} {
		for _, k := range []int{1, 3, 7, 8, 17, 33, 65, 130} {
			for _, n := range []int{1, 3, 4, 7, 17, 33, 65, 130} {
				out = append(out, shape{m, k, n})
			}
		}
	}
	return append(out,
		shape{1, 128, 267}, shape{1, 344, 128}, shape{130, 64, 172}, shape{33, 192, 344},
		shape{64, 96, 267}, shape{12, 256, 32}, shape{24, 64, 64}, shape{6, 16, 16},
		shape{3, 300, 5}, shape{5, 513, 40}, shape{530, 9, 35}, shape{2, 5, 1100}, shape{20, 20, 1100},
	)
}

func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes() {
		for _, acc := range []bool{false, true} {
			p := newProblem(rng, s.m, s.k, s.n, acc)
			for _, o := range ops {
				want, tol := p.ref(o)
				for _, i := range isas() {
					what := fmt.Sprintf("%s/%v m=%d k=%d n=%d acc=%v", o.name, i, s.m, s.k, s.n, acc)
					setISA(t, i)
					p.run(t, what, func(c []float32) { o.fn(c, p.a, p.b, s.m, s.k, s.n, acc) }, want, tol)
				}
			}
		}
	}
}

// TestBlocking shrinks the blocking so that small shapes cross every
// block boundary: several k passes (accumulating into C), row and column
// blocks, and the packing of partial panels in each.
func TestBlocking(t *testing.T) {
	setVar(t, &kc, 16)
	setVar(t, &mc, 13)
	setVar(t, &nc, 48)
	setVar(t, &dotMaxM, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range []shape{{1, 40, 50}, {3, 40, 50}, {29, 41, 97}, {14, 16, 48}, {40, 100, 33}} {
		for _, acc := range []bool{false, true} {
			p := newProblem(rng, s.m, s.k, s.n, acc)
			for _, o := range ops {
				want, tol := p.ref(o)
				for _, i := range isas() {
					setISA(t, i)
					what := fmt.Sprintf("%s/%v m=%d k=%d n=%d acc=%v", o.name, i, s.m, s.k, s.n, acc)
					p.run(t, what, func(c []float32) { o.fn(c, p.a, p.b, s.m, s.k, s.n, acc) }, want, tol)
				}
			}
		}
	}
}

func TestParallel(t *testing.T) {
	setVar(t, &parMinFlops, 0) // split even tiny products
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []shape{{1, 64, 267}, {1, 7, 3}, {2, 33, 65}, {65, 130, 33}, {130, 64, 172}, {7, 17, 200}} {
		for _, acc := range []bool{false, true} {
			p := newProblem(rng, s.m, s.k, s.n, acc)
			for _, o := range ops {
				want, tol := p.ref(o)
				for _, i := range isas() {
					setISA(t, i)
					for _, w := range []int{0, 1, 2, 3, 8} {
						what := fmt.Sprintf("Par%s/%v workers=%d m=%d k=%d n=%d acc=%v", o.name, i, w, s.m, s.k, s.n, acc)
						p.run(t, what, func(c []float32) { o.par(c, p.a, p.b, s.m, s.k, s.n, acc, w) }, want, tol)
					}
				}
			}
		}
	}
}

// TestConcurrent runs many products at once, as the data-parallel workers
// do, each on its own C: no shared scratch may leak between them.
func TestConcurrent(t *testing.T) {
	setVar(t, &parMinFlops, 0)
	rng := rand.New(rand.NewPCG(7, 8))
	type job struct {
		p         *problem
		o         op
		want, tol []float64
	}
	var jobs []job
	for _, s := range []shape{{1, 64, 267}, {17, 33, 65}, {64, 128, 96}, {3, 130, 7}, {40, 300, 40}} {
		p := newProblem(rng, s.m, s.k, s.n, false)
		for _, o := range ops {
			want, tol := p.ref(o)
			jobs = append(jobs, job{p, o, want, tol})
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for r := 0; r < 10; r++ {
				j := jobs[(g+r)%len(jobs)]
				c := append([]float32(nil), j.p.c...)
				if g%2 == 0 {
					j.o.fn(c, j.p.a, j.p.b, j.p.m, j.p.k, j.p.n, false)
				} else { // Par* callers share the helpers
					j.o.par(c, j.p.a, j.p.b, j.p.m, j.p.k, j.p.n, false, 1+g%4)
				}
				j.p.verify(t, "concurrent "+j.o.name, c, j.want, j.tol)
			}
		})
	}
	wg.Wait()
}

func TestZeroSizes(t *testing.T) {
	for _, i := range isas() {
		setISA(t, i)
		for _, o := range ops {
			c := []float32{5, 5, 5, 5, 5, 5}
			o.fn(c, nil, nil, 2, 0, 3, true) // k = 0, accumulate: unchanged
			o.fn(c, nil, nil, 0, 4, 3, false)
			o.fn(c, nil, nil, 2, 4, 0, false)
			for _, v := range c {
				if v != 5 {
					t.Fatalf("%s/%v: empty product changed C: %v", o.name, i, c)
				}
			}
			o.fn(c, nil, nil, 2, 0, 2, false) // k = 0: C = 0, m×n only
			if want := []float32{0, 0, 0, 0, 5, 5}; fmt.Sprint(c) != fmt.Sprint(want) {
				t.Fatalf("%s/%v: k=0: C = %v, want %v", o.name, i, c, want)
			}
		}
	}
}

func TestShortSlicePanics(t *testing.T) {
	for _, o := range ops {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on a short slice", o.name)
				}
			}()
			o.fn(make([]float32, 6), make([]float32, 5), make([]float32, 6), 2, 3, 3, false)
		}()
	}
}

func TestDotAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, i := range isas() {
		setISA(t, i)
		for n := 0; n <= 140; n++ {
			for _, off := range []int{0, 1, 3} { // unaligned starts too
				a := make([]float32, n+off+extra)
				b := make([]float32, n+off+extra)
				for j := range a {
					a[j], b[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				}
				x, y := a[off:off+n], b[off:]
				var want, sa float64
				for j := range x {
					want += float64(x[j]) * float64(y[j])
					sa += math.Abs(float64(x[j]) * float64(y[j]))
				}
				if got := Dot(x, y); math.Abs(float64(got)-want) > 4*float64(n+1)*0x1p-24*sa+1e-30 {
					t.Errorf("Dot/%v n=%d off=%d: %g, want %g", i, n, off, got, want)
				}
				alpha := float32(rng.NormFloat64())
				y0 := append([]float32(nil), y...)
				Axpy(alpha, x, y)
				for j := range y {
					w := y0[j]
					if j < n {
						w = y0[j] + alpha*x[j]
					}
					if d := math.Abs(float64(y[j] - w)); d > 1e-6*(1+math.Abs(float64(w))) {
						t.Errorf("Axpy/%v n=%d off=%d: y[%d] = %g, want %g", i, n, off, j, y[j], w)
						break
					}
				}
			}
		}
	}
}

// TestParallelOneProc: with a single P the helpers cannot run while the
// caller computes; the caller must take their blocks back, not wait.
func TestParallelOneProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	setVar(t, &parMinFlops, 0)
	rng := rand.New(rand.NewPCG(13, 14))
	p := newProblem(rng, 40, 50, 200, false)
	for _, o := range ops {
		want, tol := p.ref(o)
		for r := 0; r < 20; r++ {
			p.run(t, "one proc Par"+o.name, func(c []float32) { o.par(c, p.a, p.b, p.m, p.k, p.n, false, 4) }, want, tol)
		}
	}
}
