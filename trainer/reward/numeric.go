package reward

import (
	"hash/fnv"
	"math"
	"math/big"
	"math/cmplx"
)

// Floating-point evaluation, used only where the canonical form is not
// decisive (opaque atoms such as sin, log, division by a sum) and for the
// rounded-decimal rule. Free variables are sampled at a few fixed
// pseudo-random positive points.

const (
	numSamples = 3
	numRelTol  = 1e-9
	numAbsTol  = 1e-12
)

func sampleValue(name string, k int) complex128 {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{byte(k)})
	u := float64(h.Sum64()%1_000_003) / 1_000_003
	return complex(0.5+1.7*u, 0)
}

// evalC evaluates a tree at sample point k; ok is false for anything that
// cannot be evaluated (∞, bases, non-finite results).
func evalC(n *node, k int) (complex128, bool) {
	v, ok := evalNode(n, k)
	if !ok || cmplx.IsNaN(v) || cmplx.IsInf(v) {
		return 0, false
	}
	return v, true
}

func evalNode(n *node, k int) (complex128, bool) {
	switch n.op {
	case nNum:
		f, _ := n.val.Float64()
		return complex(f, 0), true
	case nSym:
		switch n.name {
		case "pi":
			return math.Pi, true
		case "e":
			return math.E, true
		case "infty":
			return 0, false
		}
		return sampleValue(n.name, k), true
	case nImag:
		return 1i, true
	case nBase:
		return 0, false
	case nNeg:
		a, ok := evalNode(n.args[0], k)
		return -a, ok
	case nAdd, nMul:
		acc := complex(0, 0)
		if n.op == nMul {
			acc = 1
		}
		for _, a := range n.args {
			v, ok := evalNode(a, k)
			if !ok {
				return 0, false
			}
			if n.op == nAdd {
				acc += v
			} else {
				acc *= v
			}
		}
		return acc, true
	case nDiv:
		a, ok1 := evalNode(n.args[0], k)
		b, ok2 := evalNode(n.args[1], k)
		if !ok1 || !ok2 || b == 0 {
			return 0, false
		}
		return a / b, true
	case nPow:
		a, ok1 := evalNode(n.args[0], k)
		b, ok2 := evalNode(n.args[1], k)
		if !ok1 || !ok2 {
			return 0, false
		}
		return powC(a, b), true
	case nRoot:
		a, ok1 := evalNode(n.args[0], k)
		idx, ok2 := evalNode(n.args[1], k)
		if !ok1 || !ok2 || idx == 0 {
			return 0, false
		}
		// odd integer roots of negative reals are real (as in the canonical form)
		if imag(a) == 0 && real(a) < 0 && imag(idx) == 0 && real(idx) == math.Trunc(real(idx)) && int64(real(idx))%2 != 0 {
			return complex(-math.Pow(-real(a), 1/real(idx)), 0), true
		}
		return powC(a, 1/idx), true
	case nFunc:
		args := make([]complex128, len(n.args))
		for i, a := range n.args {
			v, ok := evalNode(a, k)
			if !ok {
				return 0, false
			}
			args[i] = v
		}
		return evalFunc(n.name, args)
	}
	return 0, false
}

func powC(a, b complex128) complex128 {
	if imag(a) == 0 && imag(b) == 0 && (real(a) >= 0 || real(b) == math.Trunc(real(b))) {
		return complex(math.Pow(real(a), real(b)), 0)
	}
	return cmplx.Pow(a, b)
}

func evalFunc(name string, a []complex128) (complex128, bool) {
	x := a[0]
	real1 := imag(x) == 0
	switch name {
	case "sin":
		return cmplx.Sin(x), true
	case "cos":
		return cmplx.Cos(x), true
	case "tan":
		return cmplx.Tan(x), true
	case "cot":
		return 1 / cmplx.Tan(x), true
	case "sec":
		return 1 / cmplx.Cos(x), true
	case "csc":
		return 1 / cmplx.Sin(x), true
	case "asin":
		return cmplx.Asin(x), true
	case "acos":
		return cmplx.Acos(x), true
	case "atan":
		return cmplx.Atan(x), true
	case "sinh":
		return cmplx.Sinh(x), true
	case "cosh":
		return cmplx.Cosh(x), true
	case "tanh":
		return cmplx.Tanh(x), true
	case "exp":
		return cmplx.Exp(x), true
	case "ln":
		return cmplx.Log(x), x != 0
	case "log":
		if x == 0 {
			return 0, false
		}
		if len(a) > 1 {
			lb := cmplx.Log(a[1])
			if lb == 0 {
				return 0, false
			}
			return cmplx.Log(x) / lb, true
		}
		return cmplx.Log(x), true
	case "abs":
		return complex(cmplx.Abs(x), 0), true
	case "floor":
		return complex(math.Floor(real(x)), 0), real1
	case "ceil":
		return complex(math.Ceil(real(x)), 0), real1
	case "factorial":
		if !real1 || real(x) < 0 || real(x) > 170 {
			return 0, false
		}
		return complex(math.Gamma(real(x)+1), 0), true
	case "binom":
		n, r := real(a[0]), real(a[1])
		if !real1 || imag(a[1]) != 0 || n > 1000 {
			return 0, false
		}
		lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
		if r < 0 || r > n && n == math.Trunc(n) {
			return 0, true
		}
		return complex(math.Round(math.Exp(lg(n+1)-lg(r+1)-lg(n-r+1))*1e6)/1e6, 0), true
	}
	return 0, false
}

func closeC(a, b complex128) bool {
	d := cmplx.Abs(a - b)
	return d <= numRelTol*math.Max(cmplx.Abs(a), cmplx.Abs(b))+numAbsTol
}

// numericAgree evaluates both trees at the sample points. agree: every
// point where both evaluate agrees (at least one such point, or two when
// free variables are present); differ: some point clearly disagrees.
func numericAgree(a, b *node, free bool) (agree, differ bool) {
	points, good := 1, 0
	if free {
		points = numSamples
	}
	for k := 0; k < points; k++ {
		x, ok1 := evalC(a, k)
		y, ok2 := evalC(b, k)
		if !ok1 || !ok2 {
			continue
		}
		if !closeC(x, y) {
			return false, true
		}
		good++
	}
	need := 1
	if free {
		need = 2
	}
	return good >= need, false
}

// realValue returns the real value of a constant tree (no free variables).
func realValue(n *node) (float64, bool) {
	v, ok := evalC(n, 0)
	if !ok || math.Abs(imag(v)) > 1e-12*math.Max(1, math.Abs(real(v))) {
		return 0, false
	}
	return real(v), true
}

// terminates reports whether a rational has a finite decimal expansion
// (its reduced denominator is 2^a·5^b).
func terminates(r *big.Rat) bool {
	d := new(big.Int).Set(r.Denom())
	m := new(big.Int)
	for _, p := range []int64{2, 5} {
		bp := big.NewInt(p)
		for {
			q, rem := new(big.Int).DivMod(d, bp, m)
			if rem.Sign() != 0 {
				break
			}
			d = q
		}
	}
	return d.Cmp(big.NewInt(1)) == 0
}
