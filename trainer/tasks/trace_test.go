package tasks

import (
	"reflect"
	"strings"
	"testing"

	"github.com/retool-rl/retool/trainer/rollout"
)

// printed is what the correct code for p prints.
func printed(p Problem) string {
	if p.Family == "quad-roots" || p.Family == "cubic-roots" {
		return "[" + p.Answer + "]\n"
	}
	return p.Answer + "\n"
}

// fill sets the outputs a sandbox would give: the first block of a fix
// trace fails, the last prints the answer.
func fillOutputs(tr Trace) {
	bs := tr.Blocks()
	for i, b := range bs {
		b.Output = printed(tr.Problem)
		if tr.Style == StyleFix && i == 0 {
			b.Output = "NameError: name 'prnt' is not defined\n"
		}
	}
}

func allProblems(t *testing.T, n int) []Problem {
	t.Helper()
	return generate(t, 11, Options{}, n)
}

func TestRenderFormat(t *testing.T) {
	stop := rollout.ReTool{}.Stop()[0]
	mixes := []Mix{DefaultMix, {Fix: 1, TextKindCode: 1, Sympy: 1}, {Code: 1, Sympy: 0.5}}
	for _, mix := range mixes {
		for _, tr := range ColdStart(allProblems(t, 400), mix, 1) {
			fillOutputs(tr)
			resp, spans := tr.Render()
			bs := tr.Blocks()
			if len(spans) != len(bs) {
				t.Fatalf("%s: %d spans for %d blocks", tr.Problem.ID, len(spans), len(bs))
			}
			var model strings.Builder
			prev := 0
			for i, sp := range spans {
				at := sp.Start - len(stop)
				if at < prev || sp.End > len(resp) {
					t.Fatalf("%s: span %v out of order", tr.Problem.ID, sp)
				}
				if got, want := resp[at:sp.End], (rollout.ReTool{}).Feedback(bs[i].Output); got != want {
					t.Errorf("%s: feedback %q; want %q", tr.Problem.ID, got, want)
				}
				// The engine parses the model's text up to the feedback.
				for _, tmpl := range []rollout.ReTool{{}, {Mini: true}} {
					lang, code, ok := tmpl.ParseCall(resp[:at])
					if !ok || lang != bs[i].Lang || code != bs[i].Code {
						t.Errorf("%s: ParseCall = %q, %q, %v; want %q, %q", tr.Problem.ID, lang, code, ok, bs[i].Lang, bs[i].Code)
					}
				}
				if (rollout.ReTool{}).AnswerDone(resp[:sp.End]) {
					t.Errorf("%s: answer done before the last call", tr.Problem.ID)
				}
				model.WriteString(resp[prev:sp.Start])
				prev = sp.End
			}
			model.WriteString(resp[prev:])
			if strings.Contains(model.String(), "<interpreter>") {
				t.Errorf("%s: interpreter text outside the spans:\n%s", tr.Problem.ID, model.String())
			}
			if !strings.HasSuffix(resp, "<answer>\n\\boxed{"+tr.Problem.Answer+"}\n</answer>") {
				t.Errorf("%s: response does not end with the boxed answer:\n%s", tr.Problem.ID, resp)
			}
			if !(rollout.ReTool{}).AnswerDone(resp) {
				t.Errorf("%s: AnswerDone is false", tr.Problem.ID)
			}
			if !tr.Check() {
				t.Errorf("%s (%s) does not check:\n%s", tr.Problem.ID, tr.Style, resp)
			}
		}
	}
}

func TestRenderExact(t *testing.T) {
	p := Problem{ID: "mul/4817,9323/0", Family: "mul", Kind: KindTool, Question: "What is 4817 * 9323?", Answer: "44908891", Operands: []string{"4817", "9323"}}
	tr := Trace{Problem: p, Style: StyleFix, Parts: []Part{
		{Text: "Let me compute it.\n", Block: &Block{Lang: "python", Code: "prnt(4817 * 9323)", Output: "NameError: name 'prnt' is not defined"}},
		{Text: "Typo: prnt should be print.\n", Block: &Block{Lang: "python", Code: "print(4817 * 9323)", Output: "44908891\n"}},
	}}
	want := "Let me compute it.\n<code>\n```python\nprnt(4817 * 9323)\n```\n" +
		"</code>\n<interpreter>\nNameError: name 'prnt' is not defined\n</interpreter>\n\n" +
		"Typo: prnt should be print.\n<code>\n```python\nprint(4817 * 9323)\n```\n" +
		"</code>\n<interpreter>\n44908891\n</interpreter>\n\n" +
		"<answer>\n\\boxed{44908891}\n</answer>"
	resp, spans := tr.Render()
	if resp != want {
		t.Errorf("Render =\n%s\nwant\n%s", resp, want)
	}
	wantSpans := []Span{
		{Start: strings.Index(want, "\n<interpreter>"), End: strings.Index(want, "Typo")},
		{Start: strings.LastIndex(want, "\n<interpreter>"), End: strings.Index(want, "<answer>")},
	}
	if !reflect.DeepEqual(spans, wantSpans) {
		t.Errorf("spans %v; want %v", spans, wantSpans)
	}
	if !tr.Check() {
		t.Error("the trace does not check")
	}
	if got, want := tr.Prompt(), (rollout.ReTool{Mini: true}).Prompt(p.Question, nil); got != want {
		t.Errorf("Prompt = %q; want %q", got, want)
	}
}

func TestCheck(t *testing.T) {
	mul := Problem{ID: "mul/12,34/0", Family: "mul", Kind: KindTool, Question: "What is 12 * 34?", Answer: "408", Operands: []string{"12", "34"}}
	quad := Problem{ID: "quad-roots/2,3/0", Family: "quad-roots", Kind: KindSymbolic, Question: "Solve x^2 - 5x + 6 = 0.", Answer: "2, 3", Operands: []string{"2", "3"}}
	tele := Problem{ID: "telescope/20/0", Family: "telescope", Kind: KindSymbolic, Question: "Sum of 1/(k(k+1)) for k = 1..20?", Answer: "20/21", Operands: []string{"20"}}
	code := func(p Problem, outs ...string) Trace {
		tr := Trace{Problem: p, Style: StyleCode}
		if len(outs) > 1 {
			tr.Style = StyleFix
		}
		for _, o := range outs {
			tr.Parts = append(tr.Parts, Part{Block: &Block{Lang: LangPython, Code: "print(0)", Output: o}})
		}
		return tr
	}
	tests := []struct {
		name string
		tr   Trace
		want bool
	}{
		{"correct output", code(mul, "408\n"), true},
		{"output without newline", code(mul, "408"), true},
		{"wrong output", code(mul, "407\n"), false},
		{"error output", code(mul, "NameError: name 'prnt' is not defined\n"), false},
		{"no output", code(mul, ""), false},
		{"output on the last line", code(mul, "computing\n408\n"), true},
		{"list output", code(quad, "[2, 3]\n"), true},
		{"list in another order", code(quad, "[3, 2]\n"), true},
		{"missing root", code(quad, "[2]\n"), false},
		{"extra root", code(quad, "[2, 3, 4]\n"), false},
		{"fraction", code(tele, "20/21\n"), true},
		{"wrong fraction", code(tele, "21/20\n"), false},
		{"decimal for a fraction", code(tele, "0.95\n"), false},
		{"fixed", code(mul, "NameError: name 'prnt' is not defined\n", "408\n"), true},
		{"fix whose first block worked", code(mul, "408\n", "408\n"), false},
		{"fix still failing", code(mul, "NameError: name 'prnt' is not defined\n", "TypeError: oops\n"), false},
		{"text", Trace{Problem: mul, Style: StyleText, Parts: []Part{{Text: "Easy.\n"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tr.Check(); got != tt.want {
				resp, _ := tt.tr.Render()
				t.Errorf("Check = %v; want %v\n%s", got, tt.want, resp)
			}
		})
	}
}

func TestAnswerFromOutput(t *testing.T) {
	tests := []struct{ out, want string }{
		{"408\n", "408"},
		{"408", "408"},
		{"[2, 3]\n", "2, 3"},
		{"[-1]\n", "-1"},
		{"[]\n", ""},
		{"warning: slow\n  42  \n\n", "42"},
		{"20/21\n", "20/21"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := AnswerFromOutput(tt.out); got != tt.want {
			t.Errorf("AnswerFromOutput(%q) = %q; want %q", tt.out, got, tt.want)
		}
	}
}

func TestColdStartStyles(t *testing.T) {
	ps := allProblems(t, 3000)
	tests := []struct {
		name string
		mix  Mix
		want func(tr Trace) bool
	}{
		{"code only", Mix{Code: 1}, func(tr Trace) bool {
			return (tr.Style == StyleCode) == (tr.Problem.Kind != KindText)
		}},
		{"zero mix is code", Mix{}, func(tr Trace) bool {
			return (tr.Style == StyleCode) == (tr.Problem.Kind != KindText)
		}},
		{"text only", Mix{Text: 1}, func(tr Trace) bool { return tr.Style == StyleText }},
		{"fix only", Mix{Fix: 1, TextKindCode: 1}, func(tr Trace) bool {
			if tr.Problem.Kind == KindText {
				return tr.Style == StyleCode
			}
			bs := tr.Blocks()
			return tr.Style == StyleFix && len(bs) == 2 && bs[0].Code != bs[1].Code &&
				bs[0].Lang == bs[1].Lang && strings.HasSuffix(tr.Parts[1].Text, ".\n")
		}},
		{"sympy runtime", Mix{Code: 1, Sympy: 1}, func(tr Trace) bool {
			for _, b := range tr.Blocks() {
				sym := tr.Problem.Kind == KindSymbolic
				if sym != (b.Lang == LangSympy) || sym && strings.Contains(b.Code, "import") {
					return false
				}
			}
			return true
		}},
		{"python runtime", Mix{Code: 1}, func(tr Trace) bool {
			for _, b := range tr.Blocks() {
				if b.Lang != LangPython {
					return false
				}
				// Python needs its imports, except the root families,
				// which search the integers in plain Python.
				if tr.Problem.Kind == KindSymbolic && !strings.HasPrefix(b.Code, "from ") && !strings.Contains(b.Code, "for x in range(") {
					return false
				}
			}
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trs := ColdStart(ps, tt.mix, 1)
			if len(trs) != len(ps) {
				t.Fatalf("%d traces for %d problems", len(trs), len(ps))
			}
			for i, tr := range trs {
				if !reflect.DeepEqual(tr.Problem, ps[i]) {
					t.Fatalf("trace %d is for %s; want %s", i, tr.Problem.ID, ps[i].ID)
				}
				if !tt.want(tr) {
					t.Errorf("%s: unexpected %s trace %+v", tr.Problem.ID, tr.Style, tr.Parts)
				}
			}
		})
	}
}

func TestColdStartShares(t *testing.T) {
	ps := allProblems(t, 4000)
	count := map[string]int{}
	hard, text := 0, 0
	for _, tr := range ColdStart(ps, DefaultMix, 3) {
		if tr.Problem.Kind == KindText {
			text++
			count["text-kind "+tr.Style]++
			continue
		}
		hard++
		count[tr.Style]++
		if bs := tr.Blocks(); tr.Problem.Kind == KindSymbolic && len(bs) > 0 {
			count[bs[0].Lang]++
		}
	}
	near := func(got int, of int, share float64) bool {
		f := float64(got) / float64(of)
		return f > share-0.05 && f < share+0.05
	}
	if !near(count[StyleCode], hard, 0.7) || !near(count[StyleText], hard, 0.1) || !near(count[StyleFix], hard, 0.2) {
		t.Errorf("styles of tool and symbolic problems: %v of %d", count, hard)
	}
	if !near(count["text-kind "+StyleCode], text, 0.1) {
		t.Errorf("styles of text problems: %v of %d", count, text)
	}
	if !near(count[LangSympy], count[LangSympy]+count[LangPython], 0.5) {
		t.Errorf("runtimes of symbolic problems: %v", count)
	}
}

func TestColdStartDeterministic(t *testing.T) {
	ps := allProblems(t, 300)
	a, b := ColdStart(ps, DefaultMix, 9), ColdStart(ps, DefaultMix, 9)
	if !reflect.DeepEqual(a, b) {
		t.Error("ColdStart differs between two calls with the same seed")
	}
	if c := ColdStart(ps, DefaultMix, 10); reflect.DeepEqual(a, c) {
		t.Error("seeds 9 and 10 give the same traces")
	}
	for _, i := range []int{0, 17, 299} {
		alone := ColdStart(ps[i:i+1], DefaultMix, 9)
		if !reflect.DeepEqual(alone[0], a[i]) {
			t.Errorf("trace %d depends on the other problems", i)
		}
	}
}

func TestColdStartSkips(t *testing.T) {
	good := Problem{ID: "mul/12,34/0", Family: "mul", Kind: KindTool, Question: "What is 12 * 34?", Answer: "408", Operands: []string{"12", "34"}}
	unknown := good
	unknown.Family = "division"
	malformed := good
	malformed.Operands = []string{"12", "print(1)"}
	missing := good
	missing.Operands = nil
	trs := ColdStart([]Problem{unknown, good, malformed, missing}, Mix{Code: 1}, 1)
	if len(trs) != 1 || trs[0].Problem.ID != good.ID {
		t.Errorf("ColdStart kept %d traces; want only %s", len(trs), good.ID)
	}
}

func TestTextOnly(t *testing.T) {
	ps := allProblems(t, 500)
	trs := TextOnly(ps, 1)
	if len(trs) != len(ps) {
		t.Fatalf("%d traces for %d problems", len(trs), len(ps))
	}
	for i, tr := range trs {
		if tr.Problem.ID != ps[i].ID || tr.Style != StyleText || len(tr.Blocks()) != 0 {
			t.Errorf("trace %d: %+v", i, tr)
		}
		resp, spans := tr.Render()
		if len(spans) != 0 || strings.Contains(resp, "<code>") {
			t.Errorf("text trace with code:\n%s", resp)
		}
		if !tr.Check() {
			t.Errorf("%s does not check:\n%s", tr.Problem.ID, resp)
		}
	}
}
