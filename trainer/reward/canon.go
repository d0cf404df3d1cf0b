package reward

import (
	"errors"
	"math/big"
	"sort"
	"strings"
)

// The canonical form: a sum of terms coef · ∏ p^e · i^(0|1) · ∏ s^k where
// coef is an exact big.Rat, p are primes with rational exponents in (0,1)
// (radicals: √12 = 2·3^(1/2), ∛16 = 2·2^(1/3)), i is the imaginary unit
// (i² = −1) and s are symbols (π, e, ∞, variables) with non-zero rational
// exponents. Products of radicals of distinct primes with exponents in [0,1)
// are linearly independent over ℚ (Besicovitch), π and the variables are
// treated as independent transcendentals, so two fully canonicalized
// expressions are equal exactly when their canonical forms are equal: the
// comparison is decisive both ways. Anything outside this (sin, log,
// division by a sum, 2^x, …) becomes an opaque atom and makes the result
// non-decisive.

type term struct {
	coef *big.Rat
	rad  map[string]*big.Rat // prime (decimal) → exponent in (0,1)
	imag bool
	syms map[string]*big.Rat // symbol → exponent ≠ 0
}

type poly struct {
	terms map[string]*term
}

type canonizer struct {
	decisive bool
}

var errTooBig = errors.New("expression too large to canonicalize")

const (
	maxTerms = 4000
	maxBits  = 1 << 16
)

func newTerm(c *big.Rat) *term {
	return &term{coef: new(big.Rat).Set(c), rad: map[string]*big.Rat{}, syms: map[string]*big.Rat{}}
}

func (t *term) key() string {
	var parts []string
	for _, p := range sortedKeys(t.rad) {
		parts = append(parts, "√"+p+"^"+t.rad[p].RatString())
	}
	if t.imag {
		parts = append(parts, "i")
	}
	for _, s := range sortedKeys(t.syms) {
		parts = append(parts, s+"^"+t.syms[s].RatString())
	}
	return strings.Join(parts, "·")
}

func sortedKeys(m map[string]*big.Rat) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (t *term) clone() *term {
	u := newTerm(t.coef)
	for k, v := range t.rad {
		u.rad[k] = new(big.Rat).Set(v)
	}
	u.imag = t.imag
	for k, v := range t.syms {
		u.syms[k] = new(big.Rat).Set(v)
	}
	return u
}

func constPoly(r *big.Rat) *poly {
	p := &poly{terms: map[string]*term{}}
	if r.Sign() != 0 {
		p.terms[""] = newTerm(r)
	}
	return p
}

func termPoly(t *term) *poly {
	p := &poly{terms: map[string]*term{}}
	if t.coef.Sign() != 0 {
		p.terms[t.key()] = t
	}
	return p
}

func symPoly(name string) *poly {
	t := newTerm(big.NewRat(1, 1))
	t.syms[name] = big.NewRat(1, 1)
	return termPoly(t)
}

func (p *poly) String() string {
	if len(p.terms) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(p.terms))
	for k := range p.terms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" + ")
		}
		b.WriteString(p.terms[k].coef.RatString())
		if k != "" {
			b.WriteString("·" + k)
		}
	}
	return b.String()
}

func (p *poly) single() (*term, bool) {
	if len(p.terms) == 0 {
		return newTerm(new(big.Rat)), true
	}
	if len(p.terms) != 1 {
		return nil, false
	}
	for _, t := range p.terms {
		return t, true
	}
	return nil, false
}

// constant returns the value of a rational constant.
func (p *poly) constant() (*big.Rat, bool) {
	if len(p.terms) == 0 {
		return new(big.Rat), true
	}
	t, ok := p.terms[""]
	if !ok || len(p.terms) != 1 {
		return nil, false
	}
	return t.coef, true
}

// hasSymbols reports whether a symbol other than π and e occurs (free variables).
func (p *poly) hasFreeSymbols() bool {
	for _, t := range p.terms {
		for s := range t.syms {
			if s != "pi" && s != "e" {
				return true
			}
		}
	}
	return false
}

func polyEqual(a, b *poly) bool {
	if len(a.terms) != len(b.terms) {
		return false
	}
	for k, t := range a.terms {
		u, ok := b.terms[k]
		if !ok || t.coef.Cmp(u.coef) != 0 {
			return false
		}
	}
	return true
}

// proportional reports whether a = c·b for a non-zero rational c (an
// equation and its multiple describe the same set).
func proportional(a, b *poly) bool {
	if len(a.terms) != len(b.terms) {
		return false
	}
	if len(a.terms) == 0 {
		return true
	}
	var c *big.Rat
	for k, t := range a.terms {
		u, ok := b.terms[k]
		if !ok {
			return false
		}
		r := new(big.Rat).Quo(t.coef, u.coef)
		if c == nil {
			c = r
		} else if c.Cmp(r) != 0 {
			return false
		}
	}
	return true
}

func (c *canonizer) add(a, b *poly) (*poly, error) {
	r := &poly{terms: make(map[string]*term, len(a.terms)+len(b.terms))}
	for k, t := range a.terms {
		r.terms[k] = t.clone()
	}
	for k, t := range b.terms {
		if u, ok := r.terms[k]; ok {
			u.coef.Add(u.coef, t.coef)
			if u.coef.Sign() == 0 {
				delete(r.terms, k)
			}
		} else {
			r.terms[k] = t.clone()
		}
	}
	if len(r.terms) > maxTerms {
		return nil, errTooBig
	}
	return r, nil
}

func (c *canonizer) neg(a *poly) *poly {
	r := &poly{terms: make(map[string]*term, len(a.terms))}
	for k, t := range a.terms {
		u := t.clone()
		u.coef.Neg(u.coef)
		r.terms[k] = u
	}
	return r
}

func (c *canonizer) mulTerm(a, b *term) (*term, error) {
	r := a.clone()
	r.coef.Mul(r.coef, b.coef)
	if r.coef.Sign() == 0 {
		return r, nil
	}
	one := big.NewRat(1, 1)
	for p, e := range b.rad {
		if x, ok := r.rad[p]; ok {
			x.Add(x, e)
			if x.Cmp(one) >= 0 {
				x.Sub(x, one)
				bp, _ := new(big.Int).SetString(p, 10)
				r.coef.Mul(r.coef, new(big.Rat).SetInt(bp))
			}
			if x.Sign() == 0 {
				delete(r.rad, p)
			}
		} else {
			r.rad[p] = new(big.Rat).Set(e)
		}
	}
	if b.imag {
		if r.imag {
			r.coef.Neg(r.coef)
		}
		r.imag = !r.imag
	}
	for s, e := range b.syms {
		if x, ok := r.syms[s]; ok {
			x.Add(x, e)
			if x.Sign() == 0 {
				delete(r.syms, s)
			}
		} else {
			r.syms[s] = new(big.Rat).Set(e)
		}
	}
	if r.coef.Num().BitLen()+r.coef.Denom().BitLen() > maxBits {
		return nil, errTooBig
	}
	return r, nil
}

func (c *canonizer) mul(a, b *poly) (*poly, error) {
	if len(a.terms)*len(b.terms) > maxTerms*4 {
		return nil, errTooBig
	}
	r := &poly{terms: map[string]*term{}}
	for _, t := range a.terms {
		for _, u := range b.terms {
			m, err := c.mulTerm(t, u)
			if err != nil {
				return nil, err
			}
			if m.coef.Sign() == 0 {
				continue
			}
			k := m.key()
			if x, ok := r.terms[k]; ok {
				x.coef.Add(x.coef, m.coef)
				if x.coef.Sign() == 0 {
					delete(r.terms, k)
				}
			} else {
				r.terms[k] = m
			}
		}
	}
	if len(r.terms) > maxTerms {
		return nil, errTooBig
	}
	return r, nil
}

// powInt raises a sum to a non-negative integer power by expansion.
func (c *canonizer) powInt(a *poly, n int64) (*poly, error) {
	if t, ok := a.single(); ok {
		u, err := c.powTerm(t, new(big.Rat).SetInt64(n))
		if err != nil {
			return nil, err
		}
		return termPoly(u), nil
	}
	if n > 64 {
		return nil, errTooBig
	}
	r := constPoly(big.NewRat(1, 1))
	base := a
	for n > 0 {
		var err error
		if n&1 == 1 {
			if r, err = c.mul(r, base); err != nil {
				return nil, err
			}
		}
		n >>= 1
		if n > 0 {
			if base, err = c.mul(base, base); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// powTerm raises one term to a rational power: coefficient and radicals
// through ratPow, i through (-1)^(e/2), symbol exponents multiplied.
func (c *canonizer) powTerm(t *term, e *big.Rat) (*term, error) {
	if e.Sign() == 0 {
		return newTerm(big.NewRat(1, 1)), nil
	}
	if t.coef.Sign() == 0 {
		if e.Sign() > 0 {
			return newTerm(new(big.Rat)), nil
		}
		return nil, errors.New("division by zero")
	}
	r, err := c.ratPow(t.coef, e)
	if err != nil {
		return nil, err
	}
	for p, x := range t.rad {
		bp, _ := new(big.Rat).SetString(p)
		u, err := c.ratPow(bp, new(big.Rat).Mul(x, e))
		if err != nil {
			return nil, err
		}
		if r, err = c.mulTerm(r, u); err != nil {
			return nil, err
		}
	}
	if t.imag {
		u, err := c.ratPow(big.NewRat(-1, 1), new(big.Rat).Mul(e, big.NewRat(1, 2)))
		if err != nil {
			return nil, err
		}
		if r, err = c.mulTerm(r, u); err != nil {
			return nil, err
		}
	}
	for s, x := range t.syms {
		r.syms[s] = new(big.Rat).Mul(x, e)
	}
	return r, nil
}

// ratPow computes b^e for rationals b and e exactly as a term: the integer
// parts of prime exponents go into the coefficient, the fractional parts
// stay as radicals. A negative base takes the real root for odd
// denominators and i for denominator 2; other even roots of negatives are
// not supported.
func (c *canonizer) ratPow(b, e *big.Rat) (*term, error) {
	if b.Sign() == 0 {
		if e.Sign() > 0 {
			return newTerm(new(big.Rat)), nil
		}
		return nil, errors.New("division by zero")
	}
	res := newTerm(big.NewRat(1, 1))
	p, q := e.Num(), e.Denom()
	base := new(big.Rat).Set(b)
	if base.Sign() < 0 {
		base.Neg(base)
		switch {
		case q.Bit(0) == 1: // odd root: real
			if p.Bit(0) == 1 {
				res.coef.Neg(res.coef)
			}
		case q.Cmp(big.NewInt(2)) == 0: // (−x)^(p/2) = i^p x^(p/2)
			// i^p: p odd; i^p = i · (−1)^((p−1)/2)
			h := new(big.Int).Sub(p, big.NewInt(1))
			h.Rsh(h, 1) // exact: p−1 is even (arithmetic shift floors, fine for even values)
			if h.Bit(0) == 1 {
				res.coef.Neg(res.coef)
			}
			res.imag = true
		default:
			return nil, errors.New("even root of a negative number")
		}
	}
	if e.IsInt() {
		if !p.IsInt64() || abs64(p.Int64())*int64(base.Num().BitLen()+base.Denom().BitLen()) > maxBits {
			return nil, errTooBig
		}
		n := p.Int64()
		num := new(big.Int).Exp(base.Num(), big.NewInt(abs64(n)), nil)
		den := new(big.Int).Exp(base.Denom(), big.NewInt(abs64(n)), nil)
		v := new(big.Rat).SetFrac(num, den)
		if n < 0 {
			v.Inv(v)
		}
		res.coef.Mul(res.coef, v)
		return res, nil
	}
	nf, err := c.factor(base.Num())
	if err != nil {
		return nil, err
	}
	df, err := c.factor(base.Denom())
	if err != nil {
		return nil, err
	}
	for k, v := range df {
		nf[k] -= v
	}
	for prime, k := range nf {
		if k == 0 {
			continue
		}
		total := new(big.Rat).Mul(new(big.Rat).SetInt64(k), e)
		fl := floorRat(total)
		frac := new(big.Rat).Sub(total, new(big.Rat).SetInt(fl))
		bp, _ := new(big.Int).SetString(prime, 10)
		if !fl.IsInt64() || abs64(fl.Int64())*int64(bp.BitLen()) > maxBits {
			return nil, errTooBig
		}
		pw := new(big.Int).Exp(bp, new(big.Int).Abs(fl), nil)
		if fl.Sign() >= 0 {
			res.coef.Mul(res.coef, new(big.Rat).SetInt(pw))
		} else {
			res.coef.Quo(res.coef, new(big.Rat).SetInt(pw))
		}
		if frac.Sign() != 0 {
			res.rad[prime] = frac
		}
	}
	return res, nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func floorRat(r *big.Rat) *big.Int {
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int))
	_ = m // DivMod is Euclidean: for a positive denominator q is the floor
	return q
}

// factor factors a positive integer by trial division. Numbers up to 10^12
// are factored completely; a larger cofactor left after dividing out primes
// below 10^6 is kept as one "prime" and makes the comparison non-decisive.
func (c *canonizer) factor(n *big.Int) (map[string]int64, error) {
	f := map[string]int64{}
	if n.BitLen() > 256 {
		return nil, errTooBig
	}
	if n.IsUint64() {
		x := n.Uint64()
		for _, p := range []uint64{2, 3, 5} {
			for x%p == 0 {
				f[itoa(p)]++
				x /= p
			}
		}
		for p := uint64(7); p <= 1_000_000 && p*p <= x; p += 2 {
			for x%p == 0 {
				f[itoa(p)]++
				x /= p
			}
		}
		if x > 1 {
			f[itoa(x)]++
			if x > 1_000_000_000_000 {
				c.decisive = false
			}
		}
		return f, nil
	}
	x := new(big.Int).Set(n)
	m := new(big.Int)
	q := new(big.Int)
	for p := int64(2); p <= 100_000; p++ {
		bp := big.NewInt(p)
		for {
			q.DivMod(x, bp, m)
			if m.Sign() != 0 {
				break
			}
			f[itoa(uint64(p))]++
			x.Set(q)
		}
		if x.Cmp(big.NewInt(1)) == 0 {
			break
		}
	}
	if x.Cmp(big.NewInt(1)) > 0 {
		f[x.String()]++
		c.decisive = false
	}
	return f, nil
}

func itoa(x uint64) string { return new(big.Int).SetUint64(x).String() }

// opaque returns an atom standing for something the canonical form cannot
// express; equal atoms still compare equal, but the result is no longer
// decisive.
func (c *canonizer) opaque(name string, args ...*poly) *poly {
	c.decisive = false
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.String()
	}
	return symPoly("⟦" + name + "(" + strings.Join(parts, ";") + ")⟧")
}

// canon computes the canonical form of an expression tree.
func (c *canonizer) canon(n *node) (*poly, error) {
	switch n.op {
	case nNum:
		return constPoly(n.val), nil
	case nSym:
		return symPoly(n.name), nil
	case nImag:
		t := newTerm(big.NewRat(1, 1))
		t.imag = true
		return termPoly(t), nil
	case nBase:
		c.decisive = false
		return symPoly("⟦base(" + n.name + "_" + itoa(uint64(n.base)) + ")⟧"), nil
	case nNeg:
		a, err := c.canon(n.args[0])
		if err != nil {
			return nil, err
		}
		return c.neg(a), nil
	case nAdd, nMul:
		var acc *poly
		for _, a := range n.args {
			p, err := c.canon(a)
			if err != nil {
				return nil, err
			}
			if acc == nil {
				acc = p
			} else if n.op == nAdd {
				acc, err = c.add(acc, p)
			} else {
				acc, err = c.mul(acc, p)
			}
			if err != nil {
				return nil, err
			}
		}
		return acc, nil
	case nDiv:
		a, err := c.canon(n.args[0])
		if err != nil {
			return nil, err
		}
		b, err := c.canon(n.args[1])
		if err != nil {
			return nil, err
		}
		inv, err := c.inverse(b)
		if err != nil {
			return nil, err
		}
		return c.mul(a, inv)
	case nPow:
		a, err := c.canon(n.args[0])
		if err != nil {
			return nil, err
		}
		e, err := c.canon(n.args[1])
		if err != nil {
			return nil, err
		}
		return c.pow(a, e)
	case nRoot:
		a, err := c.canon(n.args[0])
		if err != nil {
			return nil, err
		}
		k, err := c.canon(n.args[1])
		if err != nil {
			return nil, err
		}
		if kv, ok := k.constant(); ok && kv.IsInt() && kv.Sign() > 0 {
			return c.pow(a, constPoly(new(big.Rat).Inv(kv)))
		}
		return c.opaque("root", a, k), nil
	case nFunc:
		args := make([]*poly, len(n.args))
		for i, a := range n.args {
			p, err := c.canon(a)
			if err != nil {
				return nil, err
			}
			args[i] = p
		}
		if p, ok := c.exactFunc(n.name, args); ok {
			return p, nil
		}
		return c.opaque(n.name, args...), nil
	}
	return nil, errors.New("unknown node")
}

func (c *canonizer) inverse(b *poly) (*poly, error) {
	if len(b.terms) == 0 {
		return nil, errors.New("division by zero")
	}
	if t, ok := b.single(); ok {
		u, err := c.powTerm(t, big.NewRat(-1, 1))
		if err != nil {
			return nil, err
		}
		return termPoly(u), nil
	}
	return c.opaque("inv", b), nil
}

func (c *canonizer) pow(a, e *poly) (*poly, error) {
	ev, ok := e.constant()
	if !ok {
		return c.opaque("pow", a, e), nil
	}
	if ev.IsInt() && ev.Sign() >= 0 {
		if !ev.Num().IsInt64() {
			return nil, errTooBig
		}
		return c.powInt(a, ev.Num().Int64())
	}
	t, ok := a.single()
	if !ok {
		if ev.IsInt() { // (a+b)^(-n) = 1 / (a+b)^n
			if !ev.Num().IsInt64() {
				return nil, errTooBig
			}
			p, err := c.powInt(a, -ev.Num().Int64())
			if err != nil {
				return nil, err
			}
			return c.inverse(p)
		}
		return c.opaque("pow", a, e), nil
	}
	u, err := c.powTerm(t, ev)
	if err != nil {
		if errors.Is(err, errTooBig) {
			return nil, err
		}
		return c.opaque("pow", a, e), nil
	}
	return termPoly(u), nil
}

// exactFunc evaluates abs, floor, ceil, factorial and binom on rational
// constants (abs also on a positive-radical term).
func (c *canonizer) exactFunc(name string, args []*poly) (*poly, bool) {
	v, isConst := args[0].constant()
	switch name {
	case "abs":
		if isConst {
			return constPoly(new(big.Rat).Abs(v)), true
		}
		if t, ok := args[0].single(); ok && !t.imag && len(t.syms) == 0 {
			u := t.clone()
			u.coef.Abs(u.coef)
			return termPoly(u), true
		}
	case "floor", "ceil":
		if isConst {
			f := floorRat(v)
			if name == "ceil" && !v.IsInt() {
				f.Add(f, big.NewInt(1))
			}
			return constPoly(new(big.Rat).SetInt(f)), true
		}
	case "factorial":
		if isConst && v.IsInt() && v.Sign() >= 0 && v.Num().Cmp(big.NewInt(2000)) <= 0 {
			return constPoly(new(big.Rat).SetInt(new(big.Int).MulRange(1, v.Num().Int64()))), true
		}
	case "binom":
		k, kConst := args[1].constant()
		if isConst && kConst && v.IsInt() && k.IsInt() && v.Sign() >= 0 && v.Num().Cmp(big.NewInt(100000)) <= 0 && k.Num().IsInt64() && k.Sign() >= 0 {
			return constPoly(new(big.Rat).SetInt(new(big.Int).Binomial(v.Num().Int64(), k.Num().Int64()))), true
		}
	}
	return nil, false
}

// canonical returns the canonical form of a tree and whether comparing it
// is decisive.
func canonical(n *node) (*poly, bool, error) {
	c := &canonizer{decisive: true}
	p, err := c.canon(n)
	if err != nil {
		return nil, false, err
	}
	return p, c.decisive, nil
}
