package reward

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestToSympy(t *testing.T) {
	tests := []struct{ in, want string }{
		{`\frac{\sqrt{2}}{2}`, `((sqrt(Integer(2)))/(Integer(2)))`},
		{"0.5", "Rational(1, 2)"},
		{`2\pi`, "(Integer(2)*pi)"},
		{`\sqrt[3]{x}`, `real_root(Symbol("x"), Integer(3))`},
		{"3+4i", "(Integer(3) + (Integer(4)*I))"},
		{`\infty`, "oo"},
		{`x^{2}`, `((Symbol("x"))**(Integer(2)))`},
		{`\ln x`, `log(Symbol("x"))`},
		{`\log_2 8`, "log(Integer(8), Integer(2))"},
		{`|x|`, `Abs(Symbol("x"))`},
		{`\binom{5}{2}`, "binomial(Integer(5), Integer(2))"},
		{`a_1`, `Symbol("a_1")`},
		{`\theta`, `Symbol("theta")`},
	}
	for _, tt := range tests {
		got, err := ToSympy(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ToSympy(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"52_8", `\operatorname{sech} x`, "(1,2)", ""} {
		if got, err := ToSympy(bad); err == nil {
			t.Errorf("ToSympy(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSympyCodeShape(t *testing.T) {
	code := SympyCode(`\frac{\sqrt{2}}{2}`, `\operatorname{sech}(x)`)
	for _, want := range []string{
		`A_SRC = "((sqrt(Integer(2)))/(Integer(2)))"`,
		"B_SRC = None",
		`B_TEX = "\\sech(x)"`,
		"parse_latex",
		"simplify(a - b) == 0",
	} {
		if !strings.Contains(code, want) {
			t.Errorf("SympyCode lacks %q:\n%s", want, code)
		}
	}
}

func TestParseSympyOutput(t *testing.T) {
	tests := []struct {
		out     string
		want    bool
		wantErr bool
	}{
		{"True\n", true, false},
		{"warning\nFalse", false, false},
		{"Error: SympifyError: bad", false, true},
		{"", false, true},
		{"maybe", false, true},
	}
	for _, tt := range tests {
		got, err := ParseSympyOutput(tt.out)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseSympyOutput(%q) = %v, %v", tt.out, got, err)
		}
	}
}

// localPython runs SympyCode programs with the host's python3 (tests only:
// the real Symbolic goes through the sandboxed sympy runtime).
func localPython(t *testing.T) SympyRunner {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(py, "-c", "import sympy").Run(); err != nil {
		t.Skip("sympy not installed")
	}
	return func(ctx context.Context, code string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, "-c", code).Output()
		return string(out), err
	}
}

func TestSympySymbolic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python3")
	}
	sym := SympySymbolic{Run: localPython(t)}
	ctx := context.Background()
	tests := []struct {
		a, b string
		want bool
	}{
		{`\frac{\sqrt{2}}{2}`, `1/\sqrt{2}`, true},
		{`\sin^2 x + \cos^2 x`, "1", true},
		{`\cot x`, `\frac{\cos x}{\sin x}`, true},
		{`x^2`, `x^3`, false},
		{`\operatorname{sech}(x)`, `\frac{1}{\cosh(x)}`, true}, // Go cannot parse sech: light conversion in Python
	}
	for _, tt := range tests {
		got, err := sym.Equal(ctx, tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("sympy %q vs %q = %v, %v; want %v", tt.a, tt.b, got, err, tt.want)
		}
	}
	// through Equivalent: the checker confirms an opaque identity
	v, err := Equivalent(ctx, `\frac{1}{1+\sqrt{2}}`, `\sqrt{2}-1`, sym)
	if err != nil || !v.Equal || v.Method != "symbolic" {
		t.Errorf("Equivalent with sympy = %+v, %v", v, err)
	}
	if _, err := (SympySymbolic{}).Equal(ctx, "1", "1"); err == nil {
		t.Error("no runner accepted")
	}
	failing := SympySymbolic{Run: func(context.Context, string) (string, error) { return "", errors.New("down") }}
	if _, err := failing.Equal(ctx, "1", "1"); err == nil {
		t.Error("runner error lost")
	}
}
