package reward

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

type equivCase struct {
	line            int
	want, got, note string
	equal           bool
}

func loadEquivCases(t *testing.T, path string) []equivCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []equivCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 3 || (f[2] != "true" && f[2] != "false") {
			t.Fatalf("%s:%d: malformed line %q", path, n, line)
		}
		c := equivCase{line: n, want: f[0], got: f[1], equal: f[2] == "true"}
		if len(f) > 3 {
			c.note = f[3]
		}
		cases = append(cases, c)
	}
	return cases
}

// TestEquivalentTable runs testdata/equivalence.tsv in both directions.
func TestEquivalentTable(t *testing.T) {
	cases := loadEquivCases(t, "testdata/equivalence.tsv")
	if len(cases) < 60 {
		t.Fatalf("only %d equivalence cases", len(cases))
	}
	ctx := context.Background()
	var trues, falses int
	for _, c := range cases {
		if c.equal {
			trues++
		} else {
			falses++
		}
		for _, dir := range [][2]string{{c.got, c.want}, {c.want, c.got}} {
			v, err := Equivalent(ctx, dir[0], dir[1], nil)
			if err != nil {
				t.Errorf("line %d: Equivalent(%q, %q): %v", c.line, dir[0], dir[1], err)
				continue
			}
			if v.Equal != c.equal {
				t.Errorf("line %d (%s): Equivalent(%q, %q) = %+v, want equal=%v", c.line, c.note, dir[0], dir[1], v, c.equal)
			}
			if v.Method == "" {
				t.Errorf("line %d: empty method", c.line)
			}
		}
	}
	if trues < 30 || falses < 30 {
		t.Errorf("table is unbalanced: %d true, %d false", trues, falses)
	}
}

func TestEquivalentMethods(t *testing.T) {
	tests := []struct {
		got, want, method string
		equal             bool
	}{
		{"42", "42", "exact", true},
		{"025", "25", "normalized", true},
		{"0.5", `\frac{1}{2}`, "numeric", true},
		{"0.33", `\frac{1}{3}`, "numeric", false},
		{`\frac{\sqrt{2}}{2}`, `1/\sqrt{2}`, "symbolic", true},
		{`\sqrt{3}`, `\sqrt{2}`, "symbolic", false},
		{`\cot x`, `\frac{\cos x}{\sin x}`, "numeric", true},
		{"(3,4]", "(3,4)", "normalized", false},
		{"", "5", "none", false},
		{"5", "   ", "none", false},
		{`\$`, "5", "none", false},
	}
	for _, tt := range tests {
		v, err := Equivalent(context.Background(), tt.got, tt.want, nil)
		if err != nil || v.Equal != tt.equal || v.Method != tt.method {
			t.Errorf("Equivalent(%q, %q) = %+v, %v; want equal=%v method=%s", tt.got, tt.want, v, err, tt.equal, tt.method)
		}
	}
}

// fakeSymbolic records its calls and answers from a table.
type fakeSymbolic struct {
	calls  [][2]string
	answer bool
	err    error
}

func (f *fakeSymbolic) Equal(_ context.Context, a, b string) (bool, error) {
	f.calls = append(f.calls, [2]string{a, b})
	return f.answer, f.err
}

func TestEquivalentSymbolic(t *testing.T) {
	ctx := context.Background()
	t.Run("not asked when the canonical form decides", func(t *testing.T) {
		s := &fakeSymbolic{answer: false}
		for _, p := range [][2]string{{`\frac{\sqrt2}{2}`, `1/\sqrt2`}, {`(a+5)(b+2)`, "ab+2a+5b+10"}, {"0.5", "1/3"}, {`\sqrt2`, `\sqrt3`}} {
			if _, err := Equivalent(ctx, p[0], p[1], s); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.calls) != 0 {
			t.Errorf("symbolic asked %v", s.calls)
		}
	})
	t.Run("asked for opaque expressions", func(t *testing.T) {
		s := &fakeSymbolic{answer: true}
		v, err := Equivalent(ctx, `\cot x`, `\frac{\cos x}{\sin x}`, s)
		if err != nil || !v.Equal || v.Method != "symbolic" || len(s.calls) != 1 {
			t.Errorf("got %+v, %v, calls %v", v, err, s.calls)
		}
		s = &fakeSymbolic{answer: false}
		v, _ = Equivalent(ctx, `\cot x`, `\frac{\cos x}{\sin x}`, s)
		if v.Equal {
			t.Errorf("symbolic said no, verdict %+v", v)
		}
	})
	t.Run("not asked when numbers clearly differ", func(t *testing.T) {
		s := &fakeSymbolic{answer: true}
		v, _ := Equivalent(ctx, `\sin x`, `\cos x`, s)
		if v.Equal || len(s.calls) != 0 {
			t.Errorf("got %+v, calls %v", v, s.calls)
		}
	})
	t.Run("asked for unparseable math", func(t *testing.T) {
		s := &fakeSymbolic{answer: true}
		v, _ := Equivalent(ctx, `\operatorname{sech}(x)`, `\frac{1}{\cosh x}`, s)
		if !v.Equal || len(s.calls) != 1 {
			t.Errorf("got %+v, calls %v", v, s.calls)
		}
		if _, err := parseExpr(s.calls[0][0]); err == nil {
			t.Errorf("expected %q to be outside the Go parser", s.calls[0][0])
		}
	})
	t.Run("elements of structures", func(t *testing.T) {
		s := &fakeSymbolic{answer: true}
		v, _ := Equivalent(ctx, `(\cot x, 1)`, `(\frac{\cos x}{\sin x}, 1)`, s)
		if !v.Equal || len(s.calls) != 1 || s.calls[0] != [2]string{`\cot x`, `\frac{\cos x}{\sin x}`} {
			t.Errorf("got %+v, calls %q", v, s.calls)
		}
	})
	t.Run("errors propagate", func(t *testing.T) {
		boom := errors.New("sandbox down")
		s := &fakeSymbolic{err: boom}
		v, err := Equivalent(ctx, `\cot x`, `\frac{\cos x}{\sin x}`, s)
		if !errors.Is(err, boom) || v.Equal || v.Method != "none" {
			t.Errorf("got %+v, %v", v, err)
		}
	})
	t.Run("SymbolicFunc", func(t *testing.T) {
		n := 0
		f := SymbolicFunc(func(context.Context, string, string) (bool, error) { n++; return true, nil })
		if v, _ := Equivalent(ctx, `\cot x`, `1/\tan x`, f); !v.Equal || n != 1 {
			t.Errorf("got %+v after %d calls", v, n)
		}
	})
}

func TestEquivalentCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Equivalent(ctx, "1", "1", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// TestEquivalentHostile: inputs that must not hang, panic or blow up memory.
func TestEquivalentHostile(t *testing.T) {
	ctx := context.Background()
	deep := strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000)
	inputs := []string{
		deep,
		strings.Repeat(`\frac{1}{`, 300) + "2" + strings.Repeat("}", 300),
		"2^{2^{2^{2^{2^{2}}}}}",
		"10^{100000000}",
		"(x+1)^{1000}",
		"(x+y+z+w)^{60}",
		`\sqrt{` + strings.Repeat("9", 200) + `}`,
		`\sqrt[3]{` + strings.Repeat("7", 40) + `}`,
		"1000000!",
		`\binom{100000000}{50000000}`,
		"1/0", `\frac{1}{0}`, "0^{-1}", `\sqrt{-1}^{\frac12}`,
		`\boxed{`, "}{", `\\`, "|||", `\left(`, "((", "))", ",,,", "===",
		"1e999", "6.72e-05", `\begin{pmatrix}1&2\\3\end{pmatrix}`, `\begin{pmatrix}`,
		strings.Repeat("x", 10000),
		strings.Repeat(`\pm 1`, 20),
	}
	for _, in := range inputs {
		for _, other := range []string{"1", in} {
			if _, err := Equivalent(ctx, in, other, nil); err != nil {
				t.Errorf("Equivalent(%.40q): %v", in, err)
			}
		}
		_ = Normalize(in)
		_, _, _ = Extract(in)
		_ = SympyCode(in, "1")
	}
}
