package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/trainer/policy"
)

// code is a ReTool tool call in lang.
func code(lang, src string) string { return "<code>\n```" + lang + "\n" + src + "\n```\n" }

const answer = "So the answer is\n<answer>\n\\boxed{42}\n</answer>"

// runOne runs one prompt ("«q»") with one sample and checks the invariants.
func runOne(t *testing.T, e *Engine, steps []step) Trajectory {
	t.Helper()
	p, _ := e.Policy.(*scriptPolicy)
	if p != nil && p.scripts == nil {
		p.scripts = map[string][]step{"«q»": steps}
	}
	trs, err := e.Run(context.Background(), []Prompt{{ID: "p0", Text: "«q»"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 1 {
		t.Fatalf("%d trajectories", len(trs))
	}
	checkInvariants(t, e.Template, trs[0])
	return trs[0]
}

// checkInvariants: segments rebuild the response; masks follow sources;
// each call's position points at its call and its feedback follows.
func checkInvariants(t *testing.T, tmpl Template, tr Trajectory) {
	t.Helper()
	if len(tr.Segments) == 0 || tr.Segments[0].Source != SourcePrompt || tr.Segments[0].LossMask != 0 {
		t.Fatalf("the first segment must be the prompt: %+v", tr.Segments)
	}
	var b strings.Builder
	for i, s := range tr.Segments[1:] {
		b.WriteString(s.Text)
		want := 0
		if s.Source == SourceModel {
			want = 1
		} else if s.Source != SourceInterpreter {
			t.Errorf("segment %d: source %q", i+1, s.Source)
		}
		if s.LossMask != want {
			t.Errorf("segment %d (%s): mask %d", i+1, s.Source, s.LossMask)
		}
		if len(s.Tokens) != len(s.Logprobs) {
			t.Errorf("segment %d: %d tokens, %d logprobs", i+1, len(s.Tokens), len(s.Logprobs))
		}
	}
	if b.String() != tr.Response {
		t.Fatalf("segments do not rebuild the response:\n%q\n%q", b.String(), tr.Response)
	}
	for i, c := range tr.ToolCalls {
		if c.Position > c.FeedbackAt || c.FeedbackAt > len(tr.Response) {
			t.Fatalf("call %d: position %d, feedback at %d, response %d bytes", i, c.Position, c.FeedbackAt, len(tr.Response))
		}
		if fb := tmpl.Feedback(c.Output); !strings.HasPrefix(tr.Response[c.FeedbackAt:], fb) {
			t.Errorf("call %d: the feedback at %d is not %q", i, c.FeedbackAt, fb)
		}
		if c.Status != StatusSkipped && c.Runtime != "" && !strings.Contains(tr.Response[c.Position:c.FeedbackAt], c.Code) {
			t.Errorf("call %d: its code is not between its position and its feedback", i)
		}
	}
	if tr.StopReason == "" || (tr.StopReason == StopError) != (tr.Error != "") {
		t.Errorf("stop reason %q with error %q", tr.StopReason, tr.Error)
	}
}

func newEngine(tmpl Template, marker string, o Options) (*Engine, *scriptPolicy, *fakeExec) {
	p := &scriptPolicy{marker: marker}
	x := newFakeExec()
	return &Engine{Policy: p, Exec: x, Template: tmpl, Options: o}, p, x
}

func TestReToolLoop(t *testing.T) {
	e, p, x := newEngine(ReTool{}, "</interpreter>", Options{Logprobs: true})
	tr := runOne(t, e, []step{
		{text: "Let me compute.\n" + code("python", "print(6*7)"), stop: "</code>", tokens: []string{"Let", " me"}},
		{text: "The output is 42.\n" + answer},
	})
	wantResp := "Let me compute.\n" + code("python", "print(6*7)") +
		"</code>\n<interpreter>\nran python: print(6*7)\n</interpreter>\n\n" +
		"The output is 42.\n" + answer
	if tr.Response != wantResp {
		t.Fatalf("response:\n%s\nwant:\n%s", tr.Response, wantResp)
	}
	if tr.StopReason != StopAnswer || tr.Error != "" {
		t.Errorf("stop %q %q", tr.StopReason, tr.Error)
	}
	srcs := []Source{}
	for _, s := range tr.Segments {
		srcs = append(srcs, s.Source)
	}
	if fmt.Sprint(srcs) != "[prompt model interpreter model]" {
		t.Errorf("segments %v", srcs)
	}
	if s := tr.Segments[1]; len(s.Tokens) != 2 || s.Logprobs[0] != -0.5 {
		t.Errorf("the model's tokens and logprobs are not kept: %+v", s)
	}
	c := tr.ToolCalls[0]
	if c.Position != len("Let me compute.\n") || c.Language != "python" || c.Runtime != "python" || c.Code != "print(6*7)" || c.Status != "finished" {
		t.Errorf("call %+v", c)
	}
	reqs := p.requests()
	if len(reqs) != 2 || reqs[0].Prompt != (ReTool{}).Prompt("«q»", []string{"python", "sympy"}) ||
		reqs[1].Prompt != reqs[0].Prompt+tr.Response[:c.FeedbackAt+len(tr.Segments[2].Text)] {
		t.Errorf("requests: %+v", reqs)
	}
	if reqs[0].Stop[0] != "</code>" || !reqs[0].Logprobs || reqs[0].N != 1 || reqs[0].TopP != 1 {
		t.Errorf("request 0: %+v", reqs[0])
	}
	if xr := x.requests(); len(xr) != 1 || xr[0].Limits.WallTime != 5*time.Second {
		t.Errorf("executions: %+v", xr)
	}
}

func TestPolicySelectsTheTool(t *testing.T) {
	e, _, x := newEngine(ReTool{ListRuntimes: true}, "</interpreter>", Options{})
	tr := runOne(t, e, []step{
		{text: "Factor it.\n" + code("sympy", "factor(x**2-1)"), stop: "</code>"},
		{text: "Check numerically.\n" + code("python", "print(3*5)"), stop: "</code>"},
		{text: "Bare fence.\n" + code("", "print(1)"), stop: "</code>"},
		{text: "Python 3 alias.\n" + code("py", "print(2)"), stop: "</code>"},
		{text: "Rust?\n" + code("rust", "fn main() {}"), stop: "</code>"},
		{text: answer},
	})
	var got []string
	for _, r := range x.requests() {
		got = append(got, r.Language)
	}
	if strings.Join(got, ",") != "sympy,python,python,python" {
		t.Errorf("executed languages %v", got)
	}
	var chosen []string
	for _, c := range tr.ToolCalls {
		chosen = append(chosen, c.Language+"/"+c.Runtime+"/"+c.Status)
	}
	want := "sympy/sympy/finished python/python/finished python/python/finished python/python/finished rust//failed"
	if strings.Join(chosen, " ") != want {
		t.Errorf("calls %v", chosen)
	}
	unknown := tr.ToolCalls[4]
	if unknown.Output != "Error: no runtime for language 'rust'; available: python, sympy\n" {
		t.Errorf("unknown language output %q", unknown.Output)
	}
	if !strings.Contains(tr.Response, "<interpreter>\nError: no runtime for language 'rust'; available: python, sympy\n</interpreter>") {
		t.Error("the model does not read the unknown-language error")
	}
	if tr.StopReason != StopAnswer {
		t.Errorf("an unknown language must not end the trajectory: %q %q", tr.StopReason, tr.Error)
	}
}

func TestMaxToolCalls(t *testing.T) {
	calling := step{text: code("python", "print(1)"), stop: "</code>"}
	cases := map[string]struct {
		final      step
		wantReason string
	}{
		"answers after the limit":     {step{text: "Fine.\n" + answer}, StopAnswer},
		"no answer after the limit":   {step{text: "I would run more code."}, StopMaxToolCalls},
		"calls again after the limit": {step{text: code("python", "print(2)") + "</code>"}, StopMaxToolCalls},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, p, x := newEngine(ReTool{}, "</interpreter>", Options{MaxToolCalls: 2})
			tr := runOne(t, e, []step{calling, calling, calling, c.final})
			if tr.StopReason != c.wantReason {
				t.Errorf("stop %q (%s)", tr.StopReason, tr.Error)
			}
			if n := len(x.requests()); n != 2 {
				t.Errorf("%d executions, want 2", n)
			}
			if len(tr.ToolCalls) != 3 || tr.ToolCalls[2].Status != StatusSkipped || !strings.Contains(tr.ToolCalls[2].Output, "limit of 2 tool calls") {
				t.Errorf("calls %+v", tr.ToolCalls)
			}
			reqs := p.requests()
			if len(reqs) != 4 || len(reqs[2].Stop) != 1 || reqs[3].Stop != nil {
				t.Errorf("the last generation must run without the tool stop: %d requests, stops %v", len(reqs), reqs[len(reqs)-1].Stop)
			}
		})
	}
	t.Run("answer within the limit", func(t *testing.T) {
		e, p, _ := newEngine(ReTool{}, "</interpreter>", Options{MaxToolCalls: 2})
		tr := runOne(t, e, []step{calling, {text: answer}})
		if tr.StopReason != StopAnswer || len(p.requests()) != 2 {
			t.Errorf("stop %q", tr.StopReason)
		}
	})
}

func TestTokenBudget(t *testing.T) {
	tok := func(n int) []string { return strings.Split(strings.Repeat("t", n), "") }
	t.Run("budget shrinks each turn", func(t *testing.T) {
		e, p, _ := newEngine(ReTool{}, "</interpreter>", Options{MaxTokens: 20, MaxTokensPerTurn: 15})
		e.CountTokens = func(string) int { return 4 } // each feedback costs 4
		tr := runOne(t, e, []step{
			{text: code("python", "print(1)"), stop: "</code>", tokens: tok(6)},
			{text: "and more", finish: "length", tokens: tok(10)},
		})
		if tr.StopReason != StopMaxTokens {
			t.Errorf("stop %q", tr.StopReason)
		}
		reqs := p.requests()
		if reqs[0].MaxTokens != 15 || reqs[1].MaxTokens != 10 { // 20 - 6 - 4
			t.Errorf("max tokens per request: %d, %d", reqs[0].MaxTokens, reqs[1].MaxTokens)
		}
	})
	t.Run("budget spent by the feedback", func(t *testing.T) {
		e, p, _ := newEngine(ReTool{}, "</interpreter>", Options{MaxTokens: 10})
		e.CountTokens = func(s string) int { return len(s) }
		tr := runOne(t, e, []step{{text: code("python", "print(1)"), stop: "</code>", tokens: tok(5)}, {text: answer}})
		if tr.StopReason != StopMaxTokens || len(p.requests()) != 1 || len(tr.ToolCalls) != 1 {
			t.Errorf("stop %q after %d requests", tr.StopReason, len(p.requests()))
		}
	})
	t.Run("answer reached before the cut", func(t *testing.T) {
		e, _, _ := newEngine(ReTool{}, "</interpreter>", Options{MaxTokens: 10})
		tr := runOne(t, e, []step{{text: answer + "\nand then I ramble", finish: "length", tokens: tok(10)}})
		if tr.StopReason != StopAnswer {
			t.Errorf("stop %q", tr.StopReason)
		}
	})
	t.Run("no tokens reported: text estimated", func(t *testing.T) {
		e, p, _ := newEngine(ReTool{}, "</interpreter>", Options{MaxTokens: 100})
		runOne(t, e, []step{{text: code("python", "print(1)"), stop: "</code>"}, {text: answer}})
		reqs := p.requests()
		first := (len(code("python", "print(1)")) + 3) / 4
		fb := (len((ReTool{}).Feedback("ran python: print(1)\n")) + 3) / 4
		if reqs[1].MaxTokens != 100-first-fb {
			t.Errorf("second request max tokens %d, want %d", reqs[1].MaxTokens, 100-first-fb)
		}
	})
}

func TestBrokenCalls(t *testing.T) {
	cases := map[string]struct {
		steps      []step
		wantReason string
		wantErr    string
		execs      int
	}{
		"unclosed fence at the tool stop":        {[]step{{text: "<code>\n```python\nprint(1)\n", stop: "</code>"}}, StopError, "unclosed code block", 0},
		"generation ends inside a block":         {[]step{{text: "<code>\n```python\nprint(1)"}}, StopError, "never closed", 0},
		"generation ends inside a block, length": {[]step{{text: "<code>\n```python\nprint(1)", finish: "length"}}, StopMaxTokens, "", 0},
		"empty code":                             {[]step{{text: "<code>\n```python\n```\n", stop: "</code>"}}, StopError, "empty code block", 0},
		"stop without a call":                    {[]step{{text: "I mention the tag", stop: "</code>"}}, StopError, "holds none", 0},
		"eos without answer":                     {[]step{{text: "I give up."}}, StopEOS, "", 0},
		"stop sequence dropped and unnamed":      {[]step{{text: code("python", "print(1)")}, {text: answer}}, StopAnswer, "", 1},
		"stop sequence kept in the text":         {[]step{{text: code("python", "print(1)") + "</code>"}, {text: answer}}, StopAnswer, "", 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, _, x := newEngine(ReTool{}, "</interpreter>", Options{})
			tr := runOne(t, e, c.steps)
			if tr.StopReason != c.wantReason || !strings.Contains(tr.Error, c.wantErr) {
				t.Errorf("stop %q error %q", tr.StopReason, tr.Error)
			}
			if n := len(x.requests()); n != c.execs {
				t.Errorf("%d executions", n)
			}
		})
	}
}

func TestPolicyErrorIsPerTrajectory(t *testing.T) {
	p := &scriptPolicy{marker: "</interpreter>", scripts: map[string][]step{
		"«a»": {{text: code("python", "print(1)"), stop: "</code>"}, {text: answer}},
		"«b»": {{text: code("python", "print(2)"), stop: "</code>"}, {err: errServerDown}},
		"«c»": {{text: answer}},
	}}
	e := &Engine{Policy: p, Exec: newFakeExec(), Template: ReTool{}}
	var done atomic.Int32
	e.OnTrajectory = func(Trajectory) { done.Add(1) }
	trs, err := e.Run(context.Background(), []Prompt{{"a", "«a»"}, {"b", "«b»"}, {"c", "«c»"}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 6 || done.Load() != 6 {
		t.Fatalf("%d trajectories, %d reported", len(trs), done.Load())
	}
	for i, tr := range trs {
		checkInvariants(t, ReTool{}, tr)
		if tr.PromptID != string(rune('a'+i/2)) || tr.Sample != i%2 {
			t.Errorf("order: %d is %s/%d", i, tr.PromptID, tr.Sample)
		}
		if tr.PromptID == "b" {
			if tr.StopReason != StopError || !strings.HasPrefix(tr.Error, "policy: ") || !strings.Contains(tr.Error, "503") || len(tr.ToolCalls) != 1 {
				t.Errorf("failed trajectory: %q %q %d calls", tr.StopReason, tr.Error, len(tr.ToolCalls))
			}
		} else if tr.StopReason != StopAnswer {
			t.Errorf("%s/%d: %q %q", tr.PromptID, tr.Sample, tr.StopReason, tr.Error)
		}
	}
	b, err := json.Marshal(trs[2])
	if err != nil || !strings.Contains(string(b), `"stop_reason":"error"`) || !strings.Contains(string(b), `"source":"interpreter"`) {
		t.Errorf("JSON: %s %v", b, err)
	}
}

func TestOutputShownToTheModel(t *testing.T) {
	long := strings.Repeat("x", 50) + "MIDDLE" + strings.Repeat("y", 50)
	cases := map[string]struct {
		o    Options
		res  execution.Result
		want string
	}{
		"head and tail": {Options{TruncateHead: 10, TruncateTail: 5}, execution.Result{Status: execution.Finished, Stdout: []byte(long)},
			strings.Repeat("x", 10) + "..." + strings.Repeat("y", 5) + "\n"},
		"last line": {Options{}, execution.Result{Status: execution.Failed, Stderr: []byte(traceback)}, "ZeroDivisionError: division by zero\n"},
		"whole":     {Options{ErrorStyle: Whole}, execution.Result{Status: execution.Failed, Stderr: []byte(traceback)}, traceback},
		"timeout":   {Options{ToolTimeout: time.Second}, execution.Result{Status: execution.Timeout, Stdout: []byte("partial\n")}, "partial\nTimed out after 1s\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, _, x := newEngine(ReTool{}, "</interpreter>", c.o)
			x.run = func(context.Context, *execution.Request) (execution.Result, error) { return c.res, nil }
			tr := runOne(t, e, []step{{text: code("python", "main()"), stop: "</code>"}, {text: answer}})
			if got := tr.ToolCalls[0].Output; got != c.want {
				t.Fatalf("shown %q want %q", got, c.want)
			}
			if !strings.Contains(tr.Response, "<interpreter>\n"+c.want+"</interpreter>") {
				t.Errorf("response %q", tr.Response)
			}
		})
	}
}

func TestExecutorFailures(t *testing.T) {
	t.Run("invalid request shown to the model", func(t *testing.T) {
		e, _, x := newEngine(ReTool{}, "</interpreter>", Options{})
		x.run = func(context.Context, *execution.Request) (execution.Result, error) {
			return execution.Result{}, fmt.Errorf("%w: code is not valid UTF-8", execution.ErrInvalid)
		}
		tr := runOne(t, e, []step{{text: code("python", "x"), stop: "</code>"}, {text: answer}})
		if tr.StopReason != StopAnswer || !strings.Contains(tr.ToolCalls[0].Output, "not valid UTF-8") || tr.ToolCalls[0].Status != "failed" {
			t.Errorf("%q %+v", tr.StopReason, tr.ToolCalls)
		}
	})
	t.Run("executor down ends the trajectory", func(t *testing.T) {
		e, _, x := newEngine(ReTool{}, "</interpreter>", Options{})
		x.run = func(context.Context, *execution.Request) (execution.Result, error) {
			return execution.Result{}, errors.New("dial unix /run/retool.sock: connection refused")
		}
		tr := runOne(t, e, []step{{text: code("python", "x"), stop: "</code>"}, {text: answer}})
		if tr.StopReason != StopError || !strings.Contains(tr.Error, "executor: dial") || strings.Contains(tr.Response, "refused") {
			t.Errorf("%q %q", tr.StopReason, tr.Error)
		}
	})
	t.Run("hung executor times out", func(t *testing.T) {
		e, _, x := newEngine(ReTool{}, "</interpreter>", Options{ToolTimeout: 10 * time.Millisecond})
		x.run = func(ctx context.Context, _ *execution.Request) (execution.Result, error) {
			<-ctx.Done()
			return execution.Result{}, ctx.Err()
		}
		tr := runOne(t, e, []step{{text: code("python", "x"), stop: "</code>"}, {text: answer}})
		if tr.StopReason != StopAnswer || tr.ToolCalls[0].Status != "timeout" || tr.ToolCalls[0].Output != "Timed out after 10ms\n" {
			t.Errorf("%q %+v", tr.StopReason, tr.ToolCalls)
		}
	})
	t.Run("runtimes cannot be listed", func(t *testing.T) {
		e, _, x := newEngine(ReTool{}, "</interpreter>", Options{})
		x.langsErr = errors.New("plugin dir unreadable")
		if _, err := e.Run(context.Background(), []Prompt{{"a", "q"}}, 1); err == nil || !strings.Contains(err.Error(), "plugin dir unreadable") {
			t.Errorf("err %v", err)
		}
	})
}

func TestRunRefusesBadSetup(t *testing.T) {
	good := func() *Engine { e, _, _ := newEngine(ReTool{}, "", Options{}); return e }
	cases := map[string]func(*Engine) int{
		"no policy":   func(e *Engine) int { e.Policy = nil; return 1 },
		"no executor": func(e *Engine) int { e.Exec = nil; return 1 },
		"no template": func(e *Engine) int { e.Template = nil; return 1 },
		"zero n":      func(e *Engine) int { return 0 },
		"bad options": func(e *Engine) int { e.Options.MaxToolCalls = -3; return 1 },
	}
	for name, breakIt := range cases {
		e := good()
		n := breakIt(e)
		if _, err := e.Run(context.Background(), []Prompt{{"a", "q"}}, n); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestHermesLoop(t *testing.T) {
	e, _, x := newEngine(Hermes{}, "</tool_response>", Options{})
	tr := runOne(t, e, []step{
		{text: "Let me use the tool.\n<tool_call>\n{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"isprime(101)\", \"language\": \"sympy\"}}\n", stop: "</tool_call>"},
		{text: "\n<tool_call>\n{\"name\": \"python\", \"arguments\": {\"code\": \"print(101)\"}}\n", stop: "</tool_call>"},
		{text: "\n<tool_call>\n{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \n", stop: "</tool_call>"},
		{text: "\nSo it is \\boxed{101}."},
	})
	if tr.StopReason != StopAnswer {
		t.Fatalf("stop %q %q", tr.StopReason, tr.Error)
	}
	if xr := x.requests(); len(xr) != 2 || xr[0].Language != "sympy" || xr[1].Language != "python" {
		t.Errorf("executions %+v", xr)
	}
	if !strings.Contains(tr.Response, "</tool_call>\n<tool_response>\nran sympy: isprime(101)\n</tool_response>\n") {
		t.Errorf("response %q", tr.Response)
	}
	if c := tr.ToolCalls[2]; c.Status != "failed" || !strings.Contains(c.Output, "not valid JSON") {
		t.Errorf("malformed call %+v", c)
	}
	if tr.ToolCalls[0].Position != len("Let me use the tool.\n") {
		t.Errorf("position %d", tr.ToolCalls[0].Position)
	}
}

func TestConcurrencyBounds(t *testing.T) {
	scripts := map[string][]step{}
	var prompts []Prompt
	for i := range 30 {
		key := fmt.Sprintf("«%d»", i)
		scripts[key] = []step{
			{text: code("python", fmt.Sprintf("print(%d)", i)), stop: "</code>"},
			{text: code("sympy", fmt.Sprintf("%d", i)), stop: "</code>"},
			{text: answer},
		}
		prompts = append(prompts, Prompt{ID: fmt.Sprint(i), Text: key})
	}
	p := &scriptPolicy{marker: "</interpreter>", scripts: scripts, delay: time.Millisecond}
	x := newFakeExec()
	x.delay = 3 * time.Millisecond
	e := &Engine{Policy: p, Exec: x, Template: ReTool{}, Options: Options{Concurrency: 6, ToolConcurrency: 2}}
	trs, err := e.Run(context.Background(), prompts, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trs {
		checkInvariants(t, e.Template, tr)
		if tr.PromptID != prompts[i/3].ID || tr.Sample != i%3 || tr.StopReason != StopAnswer || len(tr.ToolCalls) != 2 {
			t.Fatalf("trajectory %d: %s/%d %q %q", i, tr.PromptID, tr.Sample, tr.StopReason, tr.Error)
		}
		if want := fmt.Sprintf("print(%s)", tr.PromptID); tr.ToolCalls[0].Code != want {
			t.Fatalf("trajectory %d ran %q, want %q: turns mixed up", i, tr.ToolCalls[0].Code, want)
		}
	}
	if p.maxInflight > 6 || x.maxInflight > 2 {
		t.Errorf("in flight: %d generations (bound 6), %d executions (bound 2)", p.maxInflight, x.maxInflight)
	}
	if x.maxInflight < 2 || p.maxInflight < 2 {
		t.Errorf("no parallelism: %d generations, %d executions at most", p.maxInflight, x.maxInflight)
	}
	if len(x.requests()) != 180 {
		t.Errorf("%d executions", len(x.requests()))
	}
}

func TestCancelledRun(t *testing.T) {
	p := &scriptPolicy{marker: "</interpreter>", scripts: map[string][]step{"«q»": {{hang: true}}}}
	e := &Engine{Policy: p, Exec: newFakeExec(), Template: ReTool{}, Options: Options{Concurrency: 2}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	trs, err := e.Run(ctx, []Prompt{{"a", "«q»"}, {"b", "«q»"}, {"c", "«q»"}}, 2)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if time.Since(begin) > 5*time.Second {
		t.Fatalf("took %s", time.Since(begin))
	}
	if len(trs) != 6 {
		t.Fatalf("%d trajectories", len(trs))
	}
	for i, tr := range trs {
		if tr.StopReason != StopError || tr.Error == "" || tr.PromptID != string(rune('a'+i/2)) || tr.Sample != i%2 {
			t.Errorf("%d: %+v", i, tr)
		}
	}
}

// bytePolicy writes one tool call, then the answer, with byte ids that
// include the stop sequence, as the embedded model and vLLM report them.
type bytePolicy struct{}

func byteIDs(s string) []int {
	ids := make([]int, len(s))
	for i := range s {
		ids[i] = int(s[i])
	}
	return ids
}

func (bytePolicy) Generate(_ context.Context, req policy.Request) ([]policy.Completion, error) {
	if strings.Contains(req.Prompt, "</interpreter>") {
		t := "<answer>\n\\boxed{42}\n</answer>"
		return []policy.Completion{{Text: t, TokenIDs: byteIDs(t), Logprobs: make([]float64, len(t)), FinishReason: "stop"}}, nil
	}
	t := "<code>\n```python\nprint(6*7)\n```\n"
	ids := byteIDs(t + "</code>")
	return []policy.Completion{{Text: t, TokenIDs: ids, Logprobs: make([]float64, len(ids)), FinishReason: "stop", StopSequence: "</code>"}}, nil
}

func TestTokenizeGivesInterpreterIDs(t *testing.T) {
	e := &Engine{Policy: bytePolicy{}, Exec: newFakeExec(), Template: ReTool{Mini: true}, Tokenize: byteIDs}
	trs, err := e.Run(context.Background(), []Prompt{{ID: "p", Text: "6*7?"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr := trs[0]
	var ids []int
	for _, s := range tr.Segments[1:] {
		if s.Source == SourceInterpreter && len(s.TokenIDs) == 0 {
			t.Fatalf("interpreter segment without ids: %+v", s)
		}
		ids = append(ids, s.TokenIDs...)
	}
	// The ids spell the response exactly, "</code>" once (the model's).
	got := make([]byte, len(ids))
	for i, id := range ids {
		got[i] = byte(id)
	}
	if string(got) != tr.Response {
		t.Fatalf("ids spell\n%q\nresponse\n%q", got, tr.Response)
	}
}
