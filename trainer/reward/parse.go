package reward

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The expression tree of a small LaTeX-math subset: numbers, + - * / ^,
// \frac, \sqrt[n]{}, \binom, !, |x|, \lfloor/\lceil, \pi, \infty, i,
// variables (with subscripts), Greek letters, the usual functions, implicit
// multiplication ("2\sqrt{3}", "3R^2", "(a+5)(b+2)"), mixed numbers
// ("1\frac{4}{5}" = 9/5) and base subscripts ("52_8").

type opKind int

const (
	nNum  opKind = iota // val; dec = digits after the point when written as a decimal, else -1
	nSym                // name: "pi", "e", "infty", "x", "a_1", "theta"
	nImag               // the imaginary unit i
	nAdd                // args…
	nMul                // args…
	nDiv                // args[0] / args[1]
	nNeg                // -args[0]
	nPow                // args[0] ^ args[1]
	nRoot               // args[0] ^ (1/args[1])
	nFunc               // name(args…)
	nBase               // name = digits, base = base (an integer written in another base)
)

type node struct {
	op   opKind
	val  *big.Rat
	dec  int
	name string
	base int
	args []*node
}

func num(r *big.Rat) *node { return &node{op: nNum, val: r, dec: -1} }

func intNode(n int64) *node { return num(new(big.Rat).SetInt64(n)) }

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tIdent // one letter
	tCmd   // \name, or a function name written without backslash
	tOp    // one character
)

type token struct {
	kind tokKind
	text string
}

// bare words recognised as commands when written without a backslash
// (model output such as "2*sqrt(3)" or "pi/2").
var bareWords = []string{"arcsin", "arccos", "arctan", "sqrt", "sinh", "cosh", "tanh", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "abs", "ln", "pi"}

func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]) {
				j++
				for j < len(s) && isDigit(s[j]) {
					j++
				}
			}
			// scientific notation from program output: 6.72e-05
			if j+1 < len(s) && (s[j] == 'e' || s[j] == 'E') {
				k := j + 1
				if s[k] == '-' || s[k] == '+' {
					k++
				}
				if k < len(s) && isDigit(s[k]) {
					for k < len(s) && isDigit(s[k]) {
						k++
					}
					j = k
				}
			}
			toks = append(toks, token{tNum, s[i:j]})
			i = j
		case isLetter(c):
			matched := false
			for _, w := range bareWords {
				if strings.HasPrefix(s[i:], w) && (i+len(w) == len(s) || !isLetter(s[i+len(w)]) || w == "pi") {
					toks = append(toks, token{tCmd, w})
					i += len(w)
					matched = true
					break
				}
			}
			if !matched {
				toks = append(toks, token{tIdent, s[i : i+1]})
				i++
			}
		case c == '\\':
			j := i + 1
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			if j == i+1 {
				if j >= len(s) {
					return nil, errors.New("trailing backslash")
				}
				j++
			}
			toks = append(toks, token{tCmd, s[i+1 : j]})
			i = j
		case c == '*' && i+1 < len(s) && s[i+1] == '*':
			toks = append(toks, token{tOp, "^"})
			i += 2
		case strings.IndexByte("+-*/^_()[]{}!|,=<>'&:;", c) >= 0:
			toks = append(toks, token{tOp, string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

type parser struct {
	toks    []token
	pos     int
	depth   int
	absOpen int
}

const maxDepth = 200

var errSyntax = errors.New("unsupported or malformed expression")

// parseExpr parses a scalar LaTeX expression (already normalized).
func parseExpr(s string) (*node, error) {
	if len(s) > 4000 {
		return nil, errors.New("expression too long")
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty expression")
	}
	p := &parser{toks: toks}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q", errSyntax, p.toks[p.pos].text)
	}
	return n, nil
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{kind: tEOF}
}

func (p *parser) next() token {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}

func (p *parser) isCmd(s string) bool {
	t := p.peek()
	return t.kind == tCmd && t.text == s
}

func (p *parser) expect(s string) error {
	if !p.isOp(s) {
		return fmt.Errorf("%w: expected %q", errSyntax, s)
	}
	p.pos++
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errors.New("expression nested too deeply")
	}
	return nil
}

func (p *parser) expr() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	args := []*node{left}
	for {
		switch {
		case p.isOp("+"):
			p.pos++
			r, err := p.term()
			if err != nil {
				return nil, err
			}
			args = append(args, r)
		case p.isOp("-"):
			p.pos++
			r, err := p.term()
			if err != nil {
				return nil, err
			}
			args = append(args, &node{op: nNeg, args: []*node{r}})
		default:
			if len(args) == 1 {
				return left, nil
			}
			return &node{op: nAdd, args: args}, nil
		}
	}
}

// commands that cannot start a factor (operators, closers, relations).
var nonFactorCmds = map[string]bool{
	"cdot": true, "times": true, "div": true, "pm": true, "mp": true, "cup": true, "cap": true,
	"le": true, "ge": true, "lt": true, "gt": true, "neq": true, "in": true, "to": true, "rfloor": true,
	"rceil": true, "rangle": true, "}": true, "\\": true, "setminus": true, "approx": true,
	"end": true, "mid": true, "colon": true,
}

func (p *parser) startsFactor() bool {
	t := p.peek()
	switch t.kind {
	case tNum, tIdent:
		return true
	case tCmd:
		return !nonFactorCmds[t.text]
	case tOp:
		switch t.text {
		case "(", "[", "{":
			return true
		case "|":
			return p.absOpen == 0
		}
	}
	return false
}

func (p *parser) term() (*node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("*") || p.isCmd("cdot") || p.isCmd("times"):
			p.pos++
			r, err := p.unary()
			if err != nil {
				return nil, err
			}
			left = mul(left, r)
		case p.isOp("/") || p.isCmd("div"):
			p.pos++
			r, err := p.unary()
			if err != nil {
				return nil, err
			}
			left = &node{op: nDiv, args: []*node{left, r}}
		case p.startsFactor():
			mixed := p.isCmd("frac") && isIntLiteral(left)
			r, err := p.power()
			if err != nil {
				return nil, err
			}
			if mixed && r.op == nDiv && isIntLiteral(r.args[0]) && isIntLiteral(r.args[1]) && r.args[0].op == nNum && r.args[1].op == nNum {
				// mixed number: 1\frac{4}{5} = 1 + 4/5, -1\frac{4}{5} = -(1 + 4/5)
				if left.op == nNeg {
					left = &node{op: nNeg, args: []*node{{op: nAdd, args: []*node{left.args[0], r}}}}
				} else {
					left = &node{op: nAdd, args: []*node{left, r}}
				}
				continue
			}
			left = mul(left, r)
		default:
			return left, nil
		}
	}
}

func isIntLiteral(n *node) bool {
	if n.op == nNeg {
		n = n.args[0]
	}
	return n.op == nNum && n.dec < 0 && n.val.IsInt()
}

func mul(a, b *node) *node {
	if a.op == nMul {
		return &node{op: nMul, args: append(append([]*node{}, a.args...), b)}
	}
	return &node{op: nMul, args: []*node{a, b}}
}

func (p *parser) unary() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case p.isOp("-"):
		p.pos++
		a, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: nNeg, args: []*node{a}}, nil
	case p.isOp("+"):
		p.pos++
		return p.unary()
	}
	return p.power()
}

func (p *parser) power() (*node, error) {
	base, err := p.postfix()
	if err != nil {
		return nil, err
	}
	if !p.isOp("^") {
		return base, nil
	}
	p.pos++
	exp, err := p.exponent()
	if err != nil {
		return nil, err
	}
	return &node{op: nPow, args: []*node{base, exp}}, nil
}

// exponent parses what follows ^: a {group}, a signed number or one factor
// (right-associative: 2^3^2 = 2^(3^2)).
func (p *parser) exponent() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if p.isOp("-") {
		p.pos++
		e, err := p.exponent()
		if err != nil {
			return nil, err
		}
		return &node{op: nNeg, args: []*node{e}}, nil
	}
	if p.isOp("+") {
		p.pos++
	}
	return p.power()
}

func (p *parser) postfix() (*node, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.isOp("!") {
		p.pos++
		n = &node{op: nFunc, name: "factorial", args: []*node{n}}
	}
	return n, nil
}

// functions: name in the tree (sympy name is derived later).
var funcNames = map[string]string{
	"sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
	"arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh",
	"tanh": "tanh", "ln": "ln", "log": "log", "exp": "exp", "abs": "abs",
}

// groups reads n brace groups in a row: the arguments of \frac and \binom.
func (p *parser) groups(n int) ([]*node, error) {
	args := make([]*node, n)
	for i := range args {
		a, err := p.group("{", "}")
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	return args, nil
}

func (p *parser) group(open, close string) (*node, error) {
	if err := p.expect(open); err != nil {
		return nil, err
	}
	saved := p.absOpen
	p.absOpen = 0
	n, err := p.expr()
	p.absOpen = saved
	if err != nil {
		return nil, err
	}
	return n, p.expect(close)
}

func (p *parser) primary() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.next()
	switch t.kind {
	case tEOF:
		return nil, fmt.Errorf("%w: unexpected end", errSyntax)
	case tNum:
		n, err := parseNumber(t.text)
		if err != nil {
			return nil, err
		}
		if p.isOp("_") && n.dec < 0 && !strings.ContainsAny(t.text, "eE") {
			p.pos++
			b, err := p.subscript()
			if err != nil {
				return nil, err
			}
			base, err := strconv.Atoi(b)
			if err != nil || base < 2 || base > 36 {
				return nil, fmt.Errorf("%w: bad base %q", errSyntax, b)
			}
			return &node{op: nBase, name: strings.TrimLeft(t.text, "0"), base: base}, nil
		}
		return n, nil
	case tIdent:
		if t.text == "i" && !p.isOp("_") {
			return &node{op: nImag}, nil
		}
		name := t.text
		if p.isOp("_") {
			p.pos++
			sub, err := p.subscript()
			if err != nil {
				return nil, err
			}
			name += "_" + sub
		}
		return &node{op: nSym, name: name}, nil
	case tOp:
		switch t.text {
		case "(":
			p.pos--
			return p.group("(", ")")
		case "[":
			p.pos--
			return p.group("[", "]")
		case "{":
			p.pos--
			return p.group("{", "}")
		case "|":
			p.absOpen++
			n, err := p.expr()
			p.absOpen--
			if err != nil {
				return nil, err
			}
			if err := p.expect("|"); err != nil {
				return nil, err
			}
			return &node{op: nFunc, name: "abs", args: []*node{n}}, nil
		}
		return nil, fmt.Errorf("%w: unexpected %q", errSyntax, t.text)
	}
	// commands
	switch name := t.text; {
	case name == "pi" || name == "infty" || greek[name] || name == "ell":
		return &node{op: nSym, name: name}, nil
	case name == "frac":
		args, err := p.groups(2)
		if err != nil {
			return nil, err
		}
		return &node{op: nDiv, args: args}, nil
	case name == "binom":
		args, err := p.groups(2)
		if err != nil {
			return nil, err
		}
		return &node{op: nFunc, name: "binom", args: args}, nil
	case name == "sqrt":
		idx := intNode(2)
		if p.isOp("[") {
			var err error
			if idx, err = p.group("[", "]"); err != nil {
				return nil, err
			}
		}
		var a *node
		var err error
		if p.isOp("{") {
			a, err = p.group("{", "}")
		} else if p.isOp("(") {
			a, err = p.group("(", ")")
		} else {
			a, err = p.postfix()
		}
		if err != nil {
			return nil, err
		}
		return &node{op: nRoot, args: []*node{a, idx}}, nil
	case name == "lfloor" || name == "lceil":
		saved := p.absOpen
		p.absOpen = 0
		a, err := p.expr()
		p.absOpen = saved
		if err != nil {
			return nil, err
		}
		closeName := "r" + name[1:]
		if !p.isCmd(closeName) {
			return nil, fmt.Errorf("%w: expected \\%s", errSyntax, closeName)
		}
		p.pos++
		return &node{op: nFunc, name: name[1:], args: []*node{a}}, nil
	case funcNames[name] != "":
		return p.function(funcNames[name])
	}
	return nil, fmt.Errorf("%w: unsupported command \\%s", errSyntax, t.text)
}

// function parses the argument of \sin, \log_2, \ln, … : an optional power
// (\sin^2 x), an optional log base, then a parenthesized group or a run of
// implicitly multiplied factors ("\sin 2x" = sin(2x)).
func (p *parser) function(name string) (*node, error) {
	var pow, base *node
	var err error
	if name == "log" && p.isOp("_") {
		p.pos++
		if t := p.peek(); t.kind == tNum && len(t.text) > 1 && isDigit(t.text[0]) && !strings.Contains(t.text, ".") {
			// TeX reads one character after _: \log_28 is log base 2 of 8
			base = intNode(int64(t.text[0] - '0'))
			p.toks[p.pos].text = t.text[1:]
		} else if p.isOp("{") {
			base, err = p.group("{", "}")
		} else {
			base, err = p.primary()
		}
		if err != nil {
			return nil, err
		}
	}
	if p.isOp("^") {
		p.pos++
		if pow, err = p.exponent(); err != nil {
			return nil, err
		}
	}
	var arg *node
	switch {
	case p.isOp("("):
		arg, err = p.group("(", ")")
	case p.isOp("{"):
		arg, err = p.group("{", "}")
	default:
		if !p.startsFactor() {
			return nil, fmt.Errorf("%w: missing argument of %s", errSyntax, name)
		}
		arg, err = p.power()
		for err == nil && p.startsFactor() && p.peek().kind != tCmd {
			var r *node
			r, err = p.power()
			if err == nil {
				arg = mul(arg, r)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	f := &node{op: nFunc, name: name, args: []*node{arg}}
	if base != nil {
		f.args = append(f.args, base)
	}
	if pow != nil {
		if pow.op == nNeg && pow.args[0].op == nNum && pow.args[0].val.Cmp(big.NewRat(1, 1)) == 0 {
			inv := map[string]string{"sin": "asin", "cos": "acos", "tan": "atan"}
			if inv[name] == "" {
				return nil, fmt.Errorf("%w: inverse function notation", errSyntax)
			}
			f.name = inv[name]
			return f, nil
		}
		return &node{op: nPow, args: []*node{f, pow}}, nil
	}
	return f, nil
}

// subscript reads a base or index after "_": {group text} or one token.
func (p *parser) subscript() (string, error) {
	if p.isOp("{") {
		var b strings.Builder
		p.pos++
		for !p.isOp("}") {
			t := p.next()
			if t.kind == tEOF {
				return "", fmt.Errorf("%w: unclosed subscript", errSyntax)
			}
			b.WriteString(t.text)
		}
		p.pos++
		return b.String(), nil
	}
	t := p.next()
	if t.kind == tNum || t.kind == tIdent {
		return t.text, nil
	}
	return "", fmt.Errorf("%w: bad subscript", errSyntax)
}

// parseNumber reads 12, 0.5, .5, 6.72e-05 exactly; dec records the digits
// after the decimal point of the expanded literal (-1 for integers).
func parseNumber(s string) (*node, error) {
	mant, expPart := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expPart = s[:i], s[i+1:]
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return nil, fmt.Errorf("bad number %q", s)
	}
	dec := -1
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		dec = len(mant) - i - 1
	}
	if expPart != "" {
		e, err := strconv.Atoi(expPart)
		if err != nil || e > 400 || e < -400 {
			return nil, fmt.Errorf("bad exponent in %q", s)
		}
		f := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil))
		if e >= 0 {
			r.Mul(r, f)
		} else {
			r.Quo(r, f)
		}
		if dec < 0 {
			dec = 0
		}
		dec -= e
		if dec <= 0 {
			dec = -1
			if !r.IsInt() {
				dec = 0
			}
		}
	}
	return &node{op: nNum, val: r, dec: dec}, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// String renders the tree (used for opaque-atom keys and debugging).
func (n *node) String() string {
	switch n.op {
	case nNum:
		return n.val.RatString()
	case nSym:
		return n.name
	case nImag:
		return "i"
	case nBase:
		return n.name + "_" + strconv.Itoa(n.base)
	case nNeg:
		return "-(" + n.args[0].String() + ")"
	case nDiv:
		return "(" + n.args[0].String() + ")/(" + n.args[1].String() + ")"
	case nPow:
		return "(" + n.args[0].String() + ")^(" + n.args[1].String() + ")"
	case nRoot:
		return "root(" + n.args[0].String() + "," + n.args[1].String() + ")"
	}
	parts := make([]string, len(n.args))
	for i, a := range n.args {
		parts[i] = a.String()
	}
	switch n.op {
	case nAdd:
		return "(" + strings.Join(parts, "+") + ")"
	case nMul:
		return "(" + strings.Join(parts, "*") + ")"
	}
	return n.name + "(" + strings.Join(parts, ",") + ")"
}
