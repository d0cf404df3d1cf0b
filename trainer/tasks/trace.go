package tasks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
)

// Languages of code blocks; a fence's language picks the runtime.
const (
	LangPython = "python"
	LangSympy  = "sympy" // Python with `from sympy import *` done
)

// Styles of traces.
const (
	StyleCode = "code" // one block, then the answer copied from its output
	StyleText = "text" // the answer without code
	StyleFix  = "fix"  // a block that fails, a line noticing why, a fixed block
)

// Block is one code call. The caller runs Code on the runtime for Lang and
// stores in Output what the engine shows the model (its stdout, or for a
// failure the error's last line, as rollout's default error style).
type Block struct {
	Lang   string `json:"lang"`
	Code   string `json:"code"`
	Output string `json:"output"`
}

// Part is model text, then optionally a code call.
type Part struct {
	Text  string `json:"text,omitempty"`
	Block *Block `json:"block,omitempty"`
}

// Trace is a cold-start response to a problem. Its Parts hold pointers, so
// copies of a Trace share their blocks' outputs.
type Trace struct {
	Problem Problem `json:"problem"`
	Style   string  `json:"style"`
	Parts   []Part  `json:"parts"`
}

// Span is the byte range [Start, End) of a rendered response.
type Span struct{ Start, End int }

// Prompt is the prompt the trace answers, as the retool-mini template
// writes it.
func (t Trace) Prompt() string { return fmt.Sprintf(rollout.MiniPrompt, t.Problem.Question) }

// Blocks lists the code blocks in order, for the caller to run.
func (t Trace) Blocks() []*Block {
	var bs []*Block
	for _, p := range t.Parts {
		if p.Block != nil {
			bs = append(bs, p.Block)
		}
	}
	return bs
}

// Answer is what the trace boxes: for a trace with code, the last block's
// output as AnswerFromOutput reads it (the trace teaches copying the
// interpreter's result, never knowing it beforehand); for a text trace,
// the problem's answer.
func (t Trace) Answer() string {
	bs := t.Blocks()
	if len(bs) == 0 {
		return t.Problem.Answer
	}
	return AnswerFromOutput(bs[len(bs)-1].Output)
}

// AnswerFromOutput is the answer a trace copies from an output: its last
// non-empty line, without the brackets of a list (SymPy's "[2, 3]" becomes
// "2, 3", which the grader compares as a set of solutions).
func AnswerFromOutput(output string) string {
	lines := strings.Split(output, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if len(l) >= 2 && l[0] == '[' && l[len(l)-1] == ']' {
			l = strings.TrimSpace(l[1 : len(l)-1])
		}
		return l
	}
	return ""
}

// Render returns the response as the rollout engine records it with the
// retool-mini template, and the spans the interpreter wrote.
//
// Each call's model text ends with the closing fence line; the feedback
// ReTool{}.Feedback(output) follows, with output ending in a newline as
// the engine shows it. A span covers a feedback except its leading
// "</code>": that is the stop sequence, which the model generates (the
// engine strips it from the model's text, not from its tokens), so the
// model must be trained to write it.
func (t Trace) Render() (string, []Span) {
	var (
		b     strings.Builder
		spans []Span
		tmpl  = rollout.ReTool{Mini: true}
		stop  = tmpl.Stop()[0]
	)
	for _, p := range t.Parts {
		b.WriteString(p.Text)
		if p.Block == nil {
			continue
		}
		b.WriteString(callText(p.Block))
		out := p.Block.Output
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		start := b.Len()
		b.WriteString(tmpl.Feedback(out))
		spans = append(spans, Span{Start: start + len(stop), End: b.Len()})
	}
	b.WriteString("<answer>\n\\boxed{" + t.Answer() + "}\n</answer>")
	return b.String(), spans
}

// callText is the model's text of a code call, up to the stop sequence.
func callText(bl *Block) string {
	return "<code>\n```" + bl.Lang + "\n" + bl.Code + "\n```\n"
}

// Check reports whether the rendered response earns reward +1 against the
// problem's answer with trainer/reward's default options. A "fix" trace
// also needs its first block to have failed: one that did not teaches
// nothing about fixing.
func (t Trace) Check() bool {
	if bs := t.Blocks(); t.Style == StyleFix && (len(bs) < 2 || !strings.Contains(bs[0].Output, "Error")) {
		return false
	}
	resp, _ := t.Render()
	res, err := reward.Reward(context.Background(), resp, t.Problem.Answer, reward.Options{})
	return err == nil && res.Reward == 1
}

// Mix sets the shares of trace styles and runtimes in ColdStart. Shares are
// relative weights.
type Mix struct {
	// Code, Text and Fix share the tool and symbolic problems; all zero
	// means code only.
	Code, Text, Fix float64
	// TextKindCode is the probability that a text-kind problem gets a code
	// trace instead of a text one.
	TextKindCode float64
	// Sympy is the probability that a symbolic problem's code runs on the
	// sympy runtime (```sympy, no imports) rather than Python importing
	// from sympy.
	Sympy float64
}

// DefaultMix is mostly code, with some failures fixed and a few guesses.
var DefaultMix = Mix{Code: 0.7, Text: 0.1, Fix: 0.2, TextKindCode: 0.1, Sympy: 0.5}

// Model text around the calls, drawn per trace so that the model does not
// tie the call to one sentence.
var (
	codeLeads  = []string{"", "Let me compute it.\n", "I'll compute this with code.\n", "Let me check with Python.\n", "Exact arithmetic is safer in code.\n"}
	sympyLeads = []string{"", "SymPy can do this.\n", "Let me use SymPy.\n"}
	afterLeads = []string{"", "", "That is the answer.\n", "The output is the result.\n"}
	textLeads  = []string{"", "I can answer this directly.\n", "This one is easy.\n"}
)

// ColdStart writes one trace per problem, in order, styled by mix. A
// problem's trace depends only on seed and the problem, not on its
// neighbours. Problems of unknown families or with malformed operands are
// skipped, since no code can be written for them.
func ColdStart(problems []Problem, mix Mix, seed int64) []Trace {
	out := make([]Trace, 0, len(problems))
	for _, p := range problems {
		f := familyByName(p.Family)
		if f == nil || !f.validOps(p.Operands) {
			continue
		}
		r := traceRand(p, seed)
		style := StyleText
		if f.kind == KindText {
			if r.Float64() < mix.TextKindCode {
				style = StyleCode
			}
		} else {
			style = pickStyle(r, mix)
		}
		lang := LangPython
		if f.kind == KindSymbolic && r.Float64() < mix.Sympy {
			lang = LangSympy
		}
		out = append(out, buildTrace(r, f, p, style, lang))
	}
	return out
}

// TextOnly writes a text trace for every problem, for a baseline whose
// cold start never shows code.
func TextOnly(problems []Problem, seed int64) []Trace {
	out := make([]Trace, 0, len(problems))
	for _, p := range problems {
		out = append(out, buildTrace(traceRand(p, seed), nil, p, StyleText, ""))
	}
	return out
}

func traceRand(p Problem, seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), hashString(p.ID+"\x00"+p.Question)))
}

func pickStyle(r *rand.Rand, m Mix) string {
	total := m.Code + m.Text + m.Fix
	if total <= 0 {
		return StyleCode
	}
	x := r.Float64() * total
	switch {
	case x < m.Code:
		return StyleCode
	case x < m.Code+m.Text:
		return StyleText
	case m.Fix > 0:
		return StyleFix
	}
	return StyleCode
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func buildTrace(r *rand.Rand, f *family, p Problem, style, lang string) Trace {
	t := Trace{Problem: p, Style: style}
	if style == StyleText {
		t.Parts = []Part{{Text: pick(r, textLeads)}}
		return t
	}
	lead := pick(r, codeLeads)
	if lang == LangSympy {
		lead = pick(r, sympyLeads)
	}
	prog := f.code(p.Operands, lang)
	if style == StyleFix {
		bad, note := bug(r, f, prog)
		t.Parts = append(t.Parts,
			Part{Text: lead, Block: &Block{Lang: lang, Code: bad}},
			Part{Text: note + "\n", Block: &Block{Lang: lang, Code: prog.String()}})
	} else {
		t.Parts = append(t.Parts, Part{Text: lead, Block: &Block{Lang: lang, Code: prog.String()}})
	}
	if after := pick(r, afterLeads); after != "" {
		t.Parts = append(t.Parts, Part{Text: after})
	}
	return t
}

// bug returns a failing version of prog and the line that notices the
// mistake: a missing import, an undefined symbol, a misspelt print or a
// wrong function name.
func bug(r *rand.Rand, f *family, prog program) (code, note string) {
	type candidate struct{ code, note string }
	var cs []candidate
	if prog.imports != "" {
		q := prog
		q.imports = ""
		cs = append(cs, candidate{q.String(), importNote(prog.imports)})
	}
	if prog.setup != "" {
		q := prog
		q.setup = ""
		name, _, _ := strings.Cut(prog.setup, " =")
		cs = append(cs, candidate{q.String(), "I forgot to define " + name + "."})
	}
	cs = append(cs, candidate{strings.Replace(prog.String(), "print(", "prnt(", 1), "Typo: prnt should be print."})
	for _, rn := range f.renames {
		if strings.Contains(prog.expr, rn.right) {
			q := prog
			q.expr = strings.Replace(q.expr, rn.right, rn.wrong, 1)
			cs = append(cs, candidate{q.String(), rn.note})
		}
	}
	if f.name == "from-binary" || f.name == "from-hex" {
		// int(1011, 2): the digits passed as a number, not a string.
		q := prog
		q.expr = strings.Replace(q.expr, "'", "", 2)
		cs = append(cs, candidate{q.String(), "The digits must be a string."})
	}
	c := cs[r.IntN(len(cs))]
	return c.code, c.note
}

// importNote names the import a program forgot.
func importNote(imports string) string {
	line, _, _ := strings.Cut(imports, "\n")
	if mod, ok := strings.CutPrefix(line, "import "); ok {
		return "I forgot to import " + mod + "."
	}
	if rest, ok := strings.CutPrefix(line, "from "); ok {
		mod, _, _ := strings.Cut(rest, " ")
		return "I forgot the import from " + mod + "."
	}
	return "I forgot an import."
}
