package reward

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
)

// Verdict is the outcome of an equivalence check.
type Verdict struct {
	Equal bool `json:"equal"`
	// Method is what decided: "exact" (identical strings), "normalized"
	// (equal after Normalize, or structure/text decided it), "numeric"
	// (exact rational values, a rounded decimal, or floating-point agreement
	// of expressions that cannot be canonicalized), "symbolic" (canonical
	// forms, or the Symbolic checker), "none" (undecided: treated as unequal).
	Method string `json:"method"`
	Detail string `json:"detail,omitempty"`
}

// Symbolic decides what normalization alone cannot (e.g. \frac{\sqrt{2}}{2}
// vs 1/\sqrt{2}); nil skips it. a and b are single expressions (LaTeX,
// normalized); structures (tuples, sets, matrices) are split before.
type Symbolic interface {
	Equal(ctx context.Context, a, b string) (bool, error)
}

// SymbolicFunc adapts a function to Symbolic.
type SymbolicFunc func(ctx context.Context, a, b string) (bool, error)

// Equal calls f.
func (f SymbolicFunc) Equal(ctx context.Context, a, b string) (bool, error) { return f(ctx, a, b) }

// Equivalent decides whether two answers are the same mathematical object.
//
// Order: identical strings; equal Normalize forms; then both answers are
// parsed into structures (matrix, union, set, tuple/interval, comma list,
// equation, ± expansion, scalar) compared as follows:
//   - tuples/points and intervals element-wise in order, with the same
//     opening and closing brackets: "(3,4]" ≠ "(3,4)";
//   - a bare comma list ("1,-2") and a set (\{…\}) compare as multisets: the
//     order of solutions does not matter ("1,-2" = "-2, 1"); "a \pm b"
//     expands to the list {a+b, a−b};
//   - a bare list against a parenthesized tuple compares in order (the pair
//     "(15,-29)" written as "15, -29"), as do a vector pmatrix and a tuple;
//   - matrices element-wise with the same shape; unions as multisets;
//   - "x = 5" against "5" compares the right side (the name of a single
//     variable being assigned is ignored); two general equations are equal
//     when one is a non-zero rational multiple of the other (lhs − rhs);
//   - scalars: parsed into an expression tree and brought to an exact
//     canonical form (big.Rat coefficients, radicals of primes, i, π,
//     variables; polynomials expanded). Rational values compare exactly:
//     "0.5" = "\frac12" = "1/2", but "0.33" ≠ "1/3". Tolerance exists only
//     for a decimal literal against a value whose decimal expansion does not
//     terminate (14/3, √2, π): the decimal must carry about five significant
//     digits (10^−k ≤ 10^−4·|v| for k decimals) and agree with the value to
//     the digits written (d is v rounded or truncated to k places), so
//     "4.6667" = "\frac{14}{3}" but "4.67" ≠ "\frac{14}{3}" and
//     "0.3333" ≠ "\frac13". Canonical forms without opaque parts
//     decide both ways. Otherwise (sin, log, division by a sum, …) a clear
//     numeric disagreement decides "unequal"; if sym is set it is asked;
//     without sym, agreement within 1e-9 at sampled points counts as equal.
//   - reading conventions: i is the imaginary unit; e is a symbol in the
//     canonical form and Euler's number numerically; variables are
//     case-sensitive and taken positive (\sqrt{x^2} = x); an integer followed
//     by \frac of integers is a mixed number (1\frac{4}{5} = 9/5); a
//     factored polynomial equals its expansion; degrees are dropped, never
//     converted to radians; "50\%" = "50" (not 0.5);
//   - text answers ("\text{Evelyn}", "east") compare case-insensitively;
//     base subscripts must match when both have one ("52_8" ≠ "52_9"), and
//     a bare numeral matches the same digits with a subscript ("52" = "52_8").
//
// The error is non-nil only when ctx is done or sym fails.
func Equivalent(ctx context.Context, got, want string, sym Symbolic) (Verdict, error) {
	if err := ctx.Err(); err != nil {
		return Verdict{Method: "none", Detail: "cancelled"}, err
	}
	g, w := strings.TrimSpace(got), strings.TrimSpace(want)
	if g == "" || w == "" {
		return Verdict{Method: "none", Detail: "empty answer"}, nil
	}
	if g == w {
		return Verdict{Equal: true, Method: "exact"}, nil
	}
	ng, nw := Normalize(g), Normalize(w)
	if ng == "" || nw == "" {
		return Verdict{Method: "none", Detail: "empty after normalization"}, nil
	}
	if ng == nw {
		return Verdict{Equal: true, Method: "normalized", Detail: ng}, nil
	}
	c := &comparer{ctx: ctx, sym: sym}
	ag := parseAnswer(normalize(g, false), 0)
	aw := parseAnswer(normalize(w, false), 0)
	eq, err := c.equal(ag, aw)
	if err != nil {
		return Verdict{Method: "none", Detail: err.Error()}, err
	}
	v := Verdict{Equal: eq, Method: c.method, Detail: c.detail}
	if v.Method == "" {
		v.Method = "none"
	}
	return v, nil
}

type akind int

const (
	aScalar akind = iota
	aList         // bare comma list: unordered
	aSet          // \{…\}: unordered
	aTuple        // (…), […], (…], …: ordered, brackets matter
	aMatrix
	aUnion
	aEq
)

var kindNames = [...]string{"scalar", "list", "set", "tuple", "matrix", "union", "equation"}

type answer struct {
	kind        akind
	text        string // scalar
	elems       []*answer
	open, close byte
	rows, cols  int
	lhs, rhs    string // equation
	assign      bool   // lhs is a variable (or a tuple of variables)
}

var (
	inAssignRe = regexp.MustCompile(`^(?:[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\[A-Za-z]+)\\in\b(.+)$`)
	varRe      = regexp.MustCompile(`^(?:[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\[A-Za-z]+|[A-Za-z]\([A-Za-z]\))$`)
)

func parseAnswer(s string, depth int) *answer {
	s = strings.TrimSpace(s)
	if depth > 8 {
		return &answer{kind: aScalar, text: s}
	}
	if m := inAssignRe.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	if a := parseMatrix(s, depth); a != nil {
		return a
	}
	if parts := splitTopStr(s, `\cup`); len(parts) > 1 {
		a := &answer{kind: aUnion}
		for _, p := range parts {
			a.elems = append(a.elems, parseAnswer(p, depth+1))
		}
		return a
	}
	if strings.HasPrefix(s, `\{`) && strings.HasSuffix(s, `\}`) && wraps(s, 2) {
		a := &answer{kind: aSet}
		a.elems = parseElems(s[2:len(s)-2], depth)
		return a
	}
	if strings.HasPrefix(s, `\langle`) && strings.HasSuffix(s, `\rangle`) {
		s = "(" + s[len(`\langle`):len(s)-len(`\rangle`)] + ")"
	}
	if len(s) >= 2 && (s[0] == '(' || s[0] == '[') && (s[len(s)-1] == ')' || s[len(s)-1] == ']') && wraps(s, 1) {
		if parts := splitTop(s[1:len(s)-1], ','); len(parts) > 1 {
			a := &answer{kind: aTuple, open: s[0], close: s[len(s)-1]}
			for _, p := range parts {
				a.elems = append(a.elems, parseAnswer(p, depth+1))
			}
			return a
		}
	}
	if parts := splitTop(s, ','); len(parts) > 1 {
		return &answer{kind: aList, elems: parseElems(s, depth)}
	}
	if parts := splitTop(s, '='); len(parts) > 1 {
		lhs, rhs := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[len(parts)-1])
		a := &answer{kind: aEq, lhs: lhs, rhs: rhs}
		if varRe.MatchString(lhs) || isVarTuple(lhs) {
			a.assign = true
			a.elems = []*answer{parseAnswer(rhs, depth+1)}
		}
		return a
	}
	if strings.Contains(s, `\pm`) || strings.Contains(s, `\mp`) {
		if xs := expandPM(s); len(xs) > 1 {
			a := &answer{kind: aList}
			for _, x := range xs {
				a.elems = append(a.elems, &answer{kind: aScalar, text: x})
			}
			return a
		}
	}
	return &answer{kind: aScalar, text: s}
}

// parseElems splits a comma list and flattens ± expansions into it.
func parseElems(s string, depth int) []*answer {
	var out []*answer
	for _, p := range splitTop(s, ',') {
		if strings.TrimSpace(p) == "" {
			continue
		}
		e := parseAnswer(p, depth+1)
		if e.kind == aList { // "1\pm\sqrt5" inside a set
			out = append(out, e.elems...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

func isVarTuple(s string) bool {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	parts := splitTop(s[1:len(s)-1], ',')
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if !varRe.MatchString(strings.TrimSpace(p)) {
			return false
		}
	}
	return true
}

// wraps reports whether the opening delimiter at s[0:w] is closed only at
// the very end of s (so "(1,2)\cup(3,4)" or "(a)(b)" are not wrapped).
func wraps(s string, w int) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}') {
				if s[i+1] == '{' {
					depth++
				} else {
					depth--
				}
				if depth == 0 && i+2 < len(s) {
					return false
				}
			}
			i++
			continue
		}
		switch c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 && i < len(s)-1 {
				return false
			}
		}
	}
	return depth == 0
}

// splitTopStr splits at a multi-character separator outside brackets.
func splitTopStr(s, sep string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		if depth == 0 && strings.HasPrefix(s[i:], sep) {
			parts = append(parts, s[start:i])
			i += len(sep) - 1
			start = i + 1
			continue
		}
		c := s[i]
		if c == '\\' {
			if i+1 < len(s) && s[i+1] == '{' {
				depth++
			} else if i+1 < len(s) && s[i+1] == '}' {
				depth--
			}
			i++
			continue
		}
		switch c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
	}
	return append(parts, s[start:])
}

var matrixEnvs = map[string]bool{"pmatrix": true, "bmatrix": true, "Bmatrix": true, "matrix": true, "smallmatrix": true, "array": true, "vmatrix": false}

func parseMatrix(s string, depth int) *answer {
	if !strings.HasPrefix(s, `\begin{`) {
		return nil
	}
	j := strings.IndexByte(s, '}')
	env := s[len(`\begin{`):j]
	if !matrixEnvs[env] || !strings.HasSuffix(s, `\end{`+env+`}`) {
		return nil
	}
	body := s[j+1 : len(s)-len(`\end{`+env+`}`)]
	if env == "array" && strings.HasPrefix(body, "{") {
		if k := matchBrace(body, 0); k > 0 {
			body = body[k+1:]
		}
	}
	a := &answer{kind: aMatrix}
	for _, row := range splitTopStr(body, `\\`) {
		if strings.TrimSpace(row) == "" {
			continue
		}
		cells := splitTop(row, '&')
		if a.rows > 0 && len(cells) != a.cols {
			return &answer{kind: aScalar, text: s} // ragged: compare as text
		}
		a.cols = len(cells)
		a.rows++
		for _, c := range cells {
			a.elems = append(a.elems, parseAnswer(c, depth+1))
		}
	}
	if a.rows == 0 {
		return &answer{kind: aScalar, text: s}
	}
	return a
}

// expandPM expands \pm and \mp into the 2^k sign choices (k ≤ 4).
func expandPM(s string) []string {
	out := []string{s}
	for k := 0; k < 4; k++ {
		var next []string
		changed := false
		for _, x := range out {
			i := strings.Index(x, `\pm`)
			j := strings.Index(x, `\mp`)
			if i < 0 && j < 0 {
				next = append(next, x)
				continue
			}
			changed = true
			if i < 0 || j >= 0 && j < i {
				next = append(next, x[:j]+"-"+x[j+3:], x[:j]+"+"+x[j+3:])
			} else {
				next = append(next, x[:i]+"+"+x[i+3:], x[:i]+"-"+x[i+3:])
			}
		}
		out = next
		if !changed {
			break
		}
	}
	return out
}

// comparer compares parsed answers and remembers what decided.
type comparer struct {
	ctx    context.Context
	sym    Symbolic
	method string
	detail string
	rank   int
}

var methodRank = map[string]int{"exact": 0, "normalized": 1, "numeric": 2, "symbolic": 3}

// note records the method of an element comparison: for an equal result
// the strongest method used, for an unequal one the deciding method.
func (c *comparer) note(eq bool, method, detail string) {
	if !eq {
		c.method, c.detail = method, detail
		return
	}
	if r := methodRank[method]; c.method == "" || r >= c.rank {
		c.method, c.detail, c.rank = method, detail, r
	}
}

func (c *comparer) mismatch(format string, args ...any) (bool, error) {
	c.method, c.detail = "normalized", fmt.Sprintf(format, args...)
	return false, nil
}

func (c *comparer) equal(g, w *answer) (bool, error) {
	if err := c.ctx.Err(); err != nil {
		return false, err
	}
	// assignments: compare what is assigned
	if g.kind == aEq && w.kind == aEq {
		if g.assign && w.assign {
			return c.equal(g.elems[0], w.elems[0])
		}
		return c.equations(g, w)
	}
	if g.kind == aEq && g.assign {
		return c.equal(g.elems[0], w)
	}
	if w.kind == aEq && w.assign {
		return c.equal(g, w.elems[0])
	}
	// a one-element set or list equals its element
	if (g.kind == aSet || g.kind == aList) && len(g.elems) == 1 && w.kind != g.kind {
		return c.equal(g.elems[0], w)
	}
	if (w.kind == aSet || w.kind == aList) && len(w.elems) == 1 && w.kind != g.kind {
		return c.equal(g, w.elems[0])
	}
	switch {
	case g.kind == aScalar && w.kind == aScalar:
		return c.scalar(g.text, w.text)
	case g.kind == aTuple && w.kind == aTuple:
		if g.open != w.open || g.close != w.close {
			return c.mismatch("brackets differ: %c…%c vs %c…%c", g.open, g.close, w.open, w.close)
		}
		return c.ordered(g.elems, w.elems)
	case isUnordered(g.kind) && isUnordered(w.kind):
		return c.multiset(g.elems, w.elems)
	case g.kind == aUnion && w.kind == aUnion:
		return c.multiset(g.elems, w.elems)
	case g.kind == aList && w.kind == aTuple && w.open == '(' && w.close == ')',
		w.kind == aList && g.kind == aTuple && g.open == '(' && g.close == ')':
		return c.ordered(g.elems, w.elems)
	case g.kind == aMatrix && w.kind == aMatrix:
		if g.rows != w.rows || g.cols != w.cols {
			return c.mismatch("matrix shapes differ: %dx%d vs %dx%d", g.rows, g.cols, w.rows, w.cols)
		}
		return c.ordered(g.elems, w.elems)
	case g.kind == aMatrix && isVectorLike(w), w.kind == aMatrix && isVectorLike(g):
		m := g
		if w.kind == aMatrix {
			m = w
		}
		if m.rows != 1 && m.cols != 1 {
			return c.mismatch("matrix vs tuple")
		}
		return c.ordered(g.elems, w.elems)
	}
	return c.mismatch("%s vs %s", kindNames[g.kind], kindNames[w.kind])
}

func isUnordered(k akind) bool { return k == aList || k == aSet }

func isVectorLike(a *answer) bool {
	return a.kind == aTuple && a.open == '(' && a.close == ')' || a.kind == aList
}

func (c *comparer) ordered(g, w []*answer) (bool, error) {
	if len(g) != len(w) {
		return c.mismatch("%d elements vs %d", len(g), len(w))
	}
	for i := range g {
		eq, err := c.equal(g[i], w[i])
		if err != nil || !eq {
			if err == nil {
				c.detail = fmt.Sprintf("element %d: %s", i+1, c.detail)
			}
			return false, err
		}
	}
	return true, nil
}

// multiset matches every expected element with a distinct given element.
func (c *comparer) multiset(g, w []*answer) (bool, error) {
	if len(g) != len(w) {
		return c.mismatch("%d elements vs %d", len(g), len(w))
	}
	used := make([]bool, len(g))
	bestMethod, bestDetail, bestRank := "", "", -1
	for i, we := range w {
		found := false
		for j, ge := range g {
			if used[j] {
				continue
			}
			sub := &comparer{ctx: c.ctx, sym: c.sym}
			eq, err := sub.equal(ge, we)
			if err != nil {
				return false, err
			}
			if eq {
				used[j], found = true, true
				if methodRank[sub.method] >= bestRank {
					bestMethod, bestDetail, bestRank = sub.method, sub.detail, methodRank[sub.method]
				}
				break
			}
		}
		if !found {
			return c.mismatch("no match for element %d", i+1)
		}
	}
	c.note(true, bestMethod, fmt.Sprintf("%d elements in any order (%s)", len(w), bestDetail))
	return true, nil
}

// equations: lhs − rhs of one must be a non-zero rational multiple of the
// other's.
func (c *comparer) equations(g, w *answer) (bool, error) {
	dg, okg := eqDiff(g)
	dw, okw := eqDiff(w)
	if !okg || !okw {
		return c.mismatch("equations could not be parsed")
	}
	if proportional(dg, dw) {
		c.note(true, "symbolic", "proportional equations")
		return true, nil
	}
	c.note(false, "symbolic", "equations differ")
	return false, nil
}

func eqDiff(a *answer) (*poly, bool) {
	l, err1 := parseExpr(a.lhs)
	r, err2 := parseExpr(a.rhs)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	p, dec, err := canonical(&node{op: nAdd, args: []*node{l, {op: nNeg, args: []*node{r}}}})
	if err != nil || !dec {
		return nil, false
	}
	return p, true
}

// isWordy: a text answer (letters only, at least three).
func isWordy(s string) bool {
	return len(s) >= 3 && isLetters(s)
}

func (c *comparer) scalar(g, w string) (bool, error) {
	eq, method, detail, err := c.scalarVerdict(g, w)
	if err != nil {
		return false, err
	}
	c.note(eq, method, detail)
	return eq, nil
}

func (c *comparer) scalarVerdict(g, w string) (bool, string, string, error) {
	if g == w {
		return true, "normalized", g, nil
	}
	gs, ws := stripAssignment(g), stripAssignment(w)
	if gs != g || ws != w {
		g, w = gs, ws
		if g == w {
			return true, "normalized", g, nil
		}
	}
	if isWordy(g) || isWordy(w) {
		if strings.EqualFold(g, w) {
			return true, "normalized", "case-insensitive text", nil
		}
		if isLetters(g) && isLetters(w) {
			return false, "normalized", "text answers differ", nil
		}
	}
	gn, gerr := parseExpr(g)
	wn, werr := parseExpr(w)
	if gerr != nil || werr != nil {
		err := gerr
		if err == nil {
			err = werr
		}
		if strings.EqualFold(g, w) {
			return true, "normalized", "case-insensitive text", nil
		}
		if isLetters(g) || isLetters(w) {
			return false, "normalized", "text answers differ", nil
		}
		return c.askSymbolic(g, w, "cannot parse: "+err.Error())
	}
	if gn.op == nBase || wn.op == nBase {
		return baseEqual(gn, wn)
	}
	gp, gdec, err1 := canonical(gn)
	wp, wdec, err2 := canonical(wn)
	if err1 != nil || err2 != nil {
		return c.undecided(g, w, gn, wn, true, "floating-point agreement (no canonical form)", "cannot canonicalize")
	}
	gv, gConst := gp.constant()
	wv, wConst := wp.constant()
	if gConst && wConst {
		if gv.Cmp(wv) == 0 {
			return true, "numeric", "exact rational " + gv.RatString(), nil
		}
		if ok, d := roundedDecimalRat(gn, wn, gv, wv); ok {
			return true, "numeric", d, nil
		}
		return false, "numeric", gv.RatString() + " ≠ " + wv.RatString(), nil
	}
	if polyEqual(gp, wp) {
		return true, "symbolic", "canonical form " + gp.String(), nil
	}
	if ok, d := roundedDecimalReal(gn, wn, gp, wp); ok {
		return true, "numeric", d, nil
	}
	if gdec && wdec {
		return false, "symbolic", "canonical forms differ: " + gp.String() + " vs " + wp.String(), nil
	}
	free := gp.hasFreeSymbols() || wp.hasFreeSymbols()
	return c.undecided(g, w, gn, wn, free, "floating-point agreement within 1e-9", "undecided without a Symbolic checker")
}

// undecided settles what exact forms could not: numbers that differ are
// unequal; otherwise the Symbolic checker decides, or, without one,
// floating-point agreement.
func (c *comparer) undecided(g, w string, gn, wn *node, free bool, agreeDetail, noneDetail string) (bool, string, string, error) {
	agree, differ := numericAgree(gn, wn, free)
	if differ {
		return false, "numeric", "values differ", nil
	}
	if c.sym != nil {
		return c.askSymbolic(g, w, "")
	}
	if agree {
		return true, "numeric", agreeDetail, nil
	}
	return false, "none", noneDetail, nil
}

func (c *comparer) askSymbolic(g, w, why string) (bool, string, string, error) {
	if c.sym == nil {
		return false, "none", why, nil
	}
	eq, err := c.sym.Equal(c.ctx, g, w)
	if err != nil {
		return false, "none", "symbolic checker: " + err.Error(), fmt.Errorf("reward: symbolic check of %q vs %q: %w", g, w, err)
	}
	return eq, "symbolic", "symbolic checker", nil
}

func baseEqual(g, w *node) (bool, string, string, error) {
	digits := func(n *node) (string, int, bool) {
		switch {
		case n.op == nBase:
			d := n.name
			if d == "" {
				d = "0"
			}
			return strings.ToUpper(d), n.base, true
		case n.op == nNum && n.dec < 0 && n.val.IsInt() && n.val.Sign() >= 0:
			return n.val.Num().String(), 0, true
		}
		return "", 0, false
	}
	dg, bg, ok1 := digits(g)
	dw, bw, ok2 := digits(w)
	if !ok1 || !ok2 {
		return false, "normalized", "base numeral vs expression", nil
	}
	if bg != 0 && bw != 0 && bg != bw {
		return false, "normalized", "bases differ", nil
	}
	return dg == dw, "normalized", "base numerals", nil
}

// decimalLit returns the value and the number of decimals of a decimal
// literal (possibly negated).
func decimalLit(n *node) (*big.Rat, int, bool) {
	neg := false
	if n.op == nNeg {
		n, neg = n.args[0], true
	}
	if n.op != nNum || n.dec < 1 {
		return nil, 0, false
	}
	v := new(big.Rat).Set(n.val)
	if neg {
		v.Neg(v)
	}
	return v, n.dec, true
}

// relTol is the coarsest relative resolution a decimal may have to stand
// for a non-terminating value (about five significant digits).
var relTol = big.NewRat(1, 10000)

// roundedDecimalRat: one side a decimal literal d with k decimals, the other
// a rational v with a non-terminating expansion; 10^−k ≤ 10^−4·|v| and d
// is v rounded (half away from zero) or truncated to k places.
func roundedDecimalRat(gn, wn *node, gv, wv *big.Rat) (bool, string) {
	d, k, ok := decimalLit(gn)
	v := wv
	if !ok {
		if d, k, ok = decimalLit(wn); !ok {
			return false, ""
		}
		v = gv
	} else if _, _, both := decimalLit(wn); both {
		return false, ""
	}
	if terminates(v) {
		return false, ""
	}
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil))
	ulp := new(big.Rat).Inv(scale)
	if lim := new(big.Rat).Mul(relTol, new(big.Rat).Abs(v)); ulp.Cmp(lim) > 0 {
		return false, ""
	}
	x := new(big.Rat).Mul(v, scale)
	n := new(big.Rat).Mul(d, scale) // an integer
	trunc := new(big.Int).Quo(x.Num(), x.Denom())
	twice := new(big.Rat).Mul(x, big.NewRat(2, 1))
	round := new(big.Int).Quo(new(big.Int).Add(twice.Num(), new(big.Int).Mul(big.NewInt(int64(x.Sign())), twice.Denom())), new(big.Int).Mul(twice.Denom(), big.NewInt(2)))
	if !n.IsInt() || n.Num().Cmp(trunc) != 0 && n.Num().Cmp(round) != 0 {
		return false, ""
	}
	return true, fmt.Sprintf("decimal %s matches %s to %d places", d.FloatString(k), v.RatString(), k)
}

// roundedDecimalReal is the same rule against an irrational constant
// (√2, π, …) evaluated in floating point.
func roundedDecimalReal(gn, wn *node, gp, wp *poly) (bool, string) {
	d, k, ok := decimalLit(gn)
	other, op := wn, wp
	if !ok {
		if d, k, ok = decimalLit(wn); !ok {
			return false, ""
		}
		other, op = gn, gp
	} else if _, _, both := decimalLit(wn); both {
		return false, ""
	}
	if op.hasFreeSymbols() {
		return false, ""
	}
	v, ok := realValue(other)
	if !ok {
		return false, ""
	}
	df, _ := d.Float64()
	if k > 10 { // beyond what float64 can round-check: agree to 1e-10
		if math.Abs(df-v) > 1e-10*math.Max(1, math.Abs(v)) {
			return false, ""
		}
		return true, fmt.Sprintf("decimal %s matches %.15g to 1e-10", d.FloatString(k), v)
	}
	scale := math.Pow(10, float64(k))
	if 1/scale > 1e-4*math.Abs(v) {
		return false, ""
	}
	n, x := math.Round(df*scale), v*scale
	if n != math.Trunc(x) && n != math.Round(x) {
		return false, ""
	}
	return true, fmt.Sprintf("decimal %s matches %.12g to %d places", d.FloatString(k), v, k)
}
