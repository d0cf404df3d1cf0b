package reward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ToSympy converts one LaTeX expression to SymPy syntax (Integer, Rational,
// Symbol, sqrt, real_root, pi, E, I, oo, …), using this package's parser:
// "\frac{\sqrt{2}}{2}" → "((sqrt(Integer(2)))/(Integer(2)))".
func ToSympy(latex string) (string, error) {
	n, err := parseExpr(normalize(latex, true))
	if err != nil {
		return "", err
	}
	return sympyOf(n)
}

var sympyFuncs = map[string]string{
	"sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
	"asin": "asin", "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
	"exp": "exp", "ln": "log", "log": "log", "abs": "Abs", "floor": "floor", "ceil": "ceiling",
	"factorial": "factorial", "binom": "binomial",
}

func sympyOf(n *node) (string, error) {
	switch n.op {
	case nNum:
		if n.val.IsInt() {
			return "Integer(" + n.val.Num().String() + ")", nil
		}
		return "Rational(" + n.val.Num().String() + ", " + n.val.Denom().String() + ")", nil
	case nSym:
		switch n.name {
		case "pi":
			return "pi", nil
		case "e":
			return "E", nil
		case "infty":
			return "oo", nil
		}
		q, _ := json.Marshal(n.name)
		return "Symbol(" + string(q) + ")", nil
	case nImag:
		return "I", nil
	case nBase:
		return "", errors.New("base numerals have no SymPy form")
	}
	args := make([]string, len(n.args))
	for i, a := range n.args {
		s, err := sympyOf(a)
		if err != nil {
			return "", err
		}
		args[i] = s
	}
	switch n.op {
	case nAdd:
		return "(" + strings.Join(args, " + ") + ")", nil
	case nMul:
		return "(" + strings.Join(args, "*") + ")", nil
	case nNeg:
		return "(-" + args[0] + ")", nil
	case nDiv:
		return "((" + args[0] + ")/(" + args[1] + "))", nil
	case nPow:
		return "((" + args[0] + ")**(" + args[1] + "))", nil
	case nRoot:
		idx := n.args[1]
		if idx.op == nNum && idx.val.IsInt() {
			k := idx.val.Num().Int64()
			if k == 2 {
				return "sqrt(" + args[0] + ")", nil
			}
			if k%2 != 0 {
				return "real_root(" + args[0] + ", " + args[1] + ")", nil
			}
		}
		return "root(" + args[0] + ", " + args[1] + ")", nil
	case nFunc:
		f, ok := sympyFuncs[n.name]
		if !ok {
			return "", fmt.Errorf("no SymPy function for %s", n.name)
		}
		return f + "(" + strings.Join(args, ", ") + ")", nil
	}
	return "", errors.New("unknown node")
}

// SympyCode builds the Python program a Symbolic implementation sends to the
// sandboxed sympy runtime to decide whether a and b (two LaTeX expressions)
// are equal. The LaTeX is converted to SymPy syntax here in Go (sympy's own
// parse_latex needs antlr4, often missing on Debian); where this package
// cannot parse an expression the program tries sympy.parsing.latex and then
// a light regex conversion with parse_expr. The program prints "True" or
// "False" on its last line, or "Error: …"; read it with ParseSympyOutput.
// Equality is simplify(a - b) == 0, else a.equals(b) (which also tests
// numerically).
func SympyCode(a, b string) string {
	src := func(tex string) string {
		s, err := ToSympy(tex)
		if err != nil {
			return "None"
		}
		q, _ := json.Marshal(s)
		return string(q)
	}
	tex := func(t string) string {
		q, _ := json.Marshal(normalize(t, true))
		return string(q)
	}
	var b2 strings.Builder
	b2.WriteString("A_SRC = " + src(a) + "\n")
	b2.WriteString("B_SRC = " + src(b) + "\n")
	b2.WriteString("A_TEX = " + tex(a) + "\n")
	b2.WriteString("B_TEX = " + tex(b) + "\n")
	b2.WriteString(sympyProgram)
	return b2.String()
}

const sympyProgram = `
import re

def _light(tex):
    s = tex
    for _ in range(10):
        t = re.sub(r'\\frac\{([^{}]*)\}\{([^{}]*)\}', r'((\1)/(\2))', s)
        t = re.sub(r'\\sqrt\[([^\]]*)\]\{([^{}]*)\}', r'root(\2,\1)', t)
        t = re.sub(r'\\sqrt\{([^{}]*)\}', r'sqrt(\1)', t)
        if t == s:
            break
        s = t
    for a, b in ((r'\cdot', '*'), (r'\times', '*'), (r'\div', '/'), (r'\pi', 'pi'), (r'\infty', 'oo'),
                 (r'\ln', 'log'), ('^', '**'), ('{', '('), ('}', ')')):
        s = s.replace(a, b)
    s = re.sub(r'\\(arcsin|arccos|arctan)', lambda m: 'a' + m.group(1)[3:], s)
    s = re.sub(r'\\([A-Za-z]+)', r'\1', s)
    from sympy.parsing.sympy_parser import (parse_expr, standard_transformations,
                                            implicit_multiplication_application, convert_xor)
    return parse_expr(s, transformations=standard_transformations + (implicit_multiplication_application, convert_xor))

def _parse(src, tex):
    import sympy
    if src is not None:
        return sympy.sympify(src)
    try:
        from sympy.parsing.latex import parse_latex
        return parse_latex(tex)
    except Exception:
        return _light(tex)

def _main():
    try:
        import sympy
    except Exception as exc:
        print("Error: sympy unavailable: %s" % exc)
        return
    try:
        a = _parse(A_SRC, A_TEX)
        b = _parse(B_SRC, B_TEX)
        ok = sympy.simplify(a - b) == 0
        if not ok:
            ok = a.equals(b) is True
        print("True" if ok else "False")
    except Exception as exc:
        print("Error: %s: %s" % (type(exc).__name__, str(exc).replace("\n", " ")))

_main()
`

// ParseSympyOutput reads the verdict printed by a SympyCode program.
func ParseSympyOutput(stdout string) (bool, error) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	switch {
	case last == "True":
		return true, nil
	case last == "False":
		return false, nil
	case strings.HasPrefix(last, "Error:"):
		return false, errors.New("sympy: " + strings.TrimSpace(strings.TrimPrefix(last, "Error:")))
	}
	return false, fmt.Errorf("sympy: unexpected output %q", last)
}

// SympyRunner runs a Python program in a sympy runtime and returns its
// standard output.
type SympyRunner func(ctx context.Context, code string) (stdout string, err error)

// SympySymbolic is a Symbolic backed by a runner (the sandboxed executor
// lives elsewhere): it sends SympyCode and reads ParseSympyOutput.
type SympySymbolic struct {
	Run SympyRunner
}

// Equal implements Symbolic.
func (s SympySymbolic) Equal(ctx context.Context, a, b string) (bool, error) {
	if s.Run == nil {
		return false, errors.New("sympy: no runner")
	}
	out, err := s.Run(ctx, SympyCode(a, b))
	if err != nil {
		return false, err
	}
	return ParseSympyOutput(out)
}
