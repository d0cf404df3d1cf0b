package rollout

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/runtimes/python/driver"
)

// A recorded ToRA-70B GSM8K response (microsoft/ToRA, MIT; the first 50 of
// data/traces/tora70b_gsm8k_sample.jsonl): model text, then
// ```output\n…\n```\n, then model text again, with one tool call each.
type recordedTrace struct {
	question string
	response string
	models   []string // the model's text around the outputs
	outputs  []string // the recorded outputs, without the fences
}

func loadTraces(t *testing.T) []recordedTrace {
	t.Helper()
	f, err := os.Open("testdata/tora70b_gsm8k_50.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recordedTrace
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Question string   `json:"question"`
			Code     []string `json:"code"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		tr := recordedTrace{question: rec.Question, response: rec.Code[0]}
		rest := tr.response
		for {
			i := strings.Index(rest, "```output\n")
			if i < 0 {
				break
			}
			tr.models = append(tr.models, rest[:i])
			body := rest[i+len("```output\n"):]
			j := strings.Index(body, "\n```\n")
			if j < 0 {
				t.Fatalf("trace %q: output block not closed", rec.Question)
			}
			tr.outputs = append(tr.outputs, body[:j])
			rest = body[j+len("\n```\n"):]
		}
		tr.models = append(tr.models, rest)
		out = append(out, tr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != 50 {
		t.Fatalf("%d traces", len(out))
	}
	return out
}

// replayPolicy answers each turn with the recorded model text: up to the
// ToRL stop, then what followed the recorded output.
func replayPolicy(traces []recordedTrace) *scriptPolicy {
	p := &scriptPolicy{marker: "```output\n", scripts: map[string][]step{}}
	for _, tr := range traces {
		var steps []step
		for i, m := range tr.models {
			if i < len(tr.models)-1 {
				steps = append(steps, step{text: m, stop: "```output"})
			} else {
				steps = append(steps, step{text: m})
			}
		}
		p.scripts["Problem: "+tr.question+"\n"] = steps
	}
	return p
}

func promptsOf(traces []recordedTrace) []Prompt {
	var ps []Prompt
	for i, tr := range traces {
		ps = append(ps, Prompt{ID: string(rune('A' + i)), Text: tr.question})
	}
	return ps
}

// TestReplayToRA replays the recorded responses with an executor that
// returns the recorded outputs: the rebuilt response must be the recorded
// one byte for byte, with the segments, masks and positions in place.
func TestReplayToRA(t *testing.T) {
	traces := loadTraces(t)
	byCode := map[string]string{}
	for _, tr := range traces {
		for i := range tr.outputs {
			_, code, ok := ToRL{}.ParseCall(tr.models[i])
			if !ok {
				t.Fatalf("no call in %q", tr.models[i])
			}
			byCode[code] = tr.outputs[i] + "\n"
		}
	}
	x := newFakeExec()
	x.run = func(_ context.Context, req *execution.Request) (execution.Result, error) {
		return execution.Result{Status: execution.Finished, Stdout: []byte(byCode[req.Code])}, nil
	}
	e := &Engine{Policy: replayPolicy(traces), Exec: x, Template: ToRL{}, Options: Options{Concurrency: 8, ToolConcurrency: 4}}
	trs, err := e.Run(context.Background(), promptsOf(traces), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trs {
		rec := traces[i]
		checkInvariants(t, ToRL{}, tr)
		if tr.Response != rec.response {
			t.Errorf("trace %d: rebuilt response differs:\n%q\n%q", i, tr.Response, rec.response)
			continue
		}
		if tr.StopReason != wantStop(rec) || len(tr.ToolCalls) != len(rec.outputs) {
			t.Errorf("trace %d: stop %q (%s), %d calls", i, tr.StopReason, tr.Error, len(tr.ToolCalls))
			continue
		}
		// Segments: prompt, then model / interpreter alternating, each the
		// recorded stretch of text.
		want := []Segment{{Source: SourcePrompt, Text: ToRL{}.Prompt(rec.question, []string{"python", "sympy"})}}
		for k, m := range rec.models {
			want = append(want, Segment{Source: SourceModel, Text: m, LossMask: 1})
			if k < len(rec.outputs) {
				want = append(want, Segment{Source: SourceInterpreter, Text: "```output\n" + rec.outputs[k] + "\n```\n"})
			}
		}
		if len(tr.Segments) != len(want) {
			t.Errorf("trace %d: %d segments, want %d", i, len(tr.Segments), len(want))
			continue
		}
		for k := range want {
			g, w := tr.Segments[k], want[k]
			if g.Source != w.Source || g.Text != w.Text || g.LossMask != w.LossMask {
				t.Errorf("trace %d segment %d: %s %d %q, want %s %d %q", i, k, g.Source, g.LossMask, g.Text, w.Source, w.LossMask, w.Text)
			}
		}
		c := tr.ToolCalls[0]
		if c.Position != strings.LastIndex(rec.models[0], "```python") || c.FeedbackAt != len(rec.models[0]) || c.Language != "python" {
			t.Errorf("trace %d: call at %d, feedback at %d, language %q", i, c.Position, c.FeedbackAt, c.Language)
		}
	}
}

// wantStop: "answer" with a \boxed answer after the output, else "eos"
// (one recorded response ends "60% of the students…" with no box).
func wantStop(rec recordedTrace) string {
	if strings.Contains(rec.models[len(rec.models)-1], `\boxed{`) {
		return StopAnswer
	}
	return StopEOS
}

// runtimeExec runs code in the real Python runtime, in process.
type runtimeExec struct{ rt *sdk.WarmRuntime }

func (x runtimeExec) Languages() (map[string]string, error) {
	return map[string]string{"python": "python", "python3": "python"}, nil
}

func (x runtimeExec) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	return x.rt.Execute(ctx, req)
}

// TestReplayToRAThroughPython runs the recorded code in the Python runtime
// and compares its output with the one ToRA recorded.
func TestReplayToRAThroughPython(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Python runtime")
	}
	rt := driver.Runtime(driver.Python)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rt.Configure(ctx, sdk.Settings{PoolSize: 2}); err != nil {
		t.Skipf("the Python runtime cannot start here: %v", err)
	}
	t.Cleanup(func() { rt.Close() })

	traces := loadTraces(t)
	e := &Engine{Policy: replayPolicy(traces), Exec: runtimeExec{rt}, Template: ToRL{}, Options: Options{ToolConcurrency: 2}}
	trs, err := e.Run(ctx, promptsOf(traces), 1)
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i, tr := range trs {
		rec := traces[i]
		checkInvariants(t, ToRL{}, tr)
		if tr.StopReason != wantStop(rec) || len(tr.ToolCalls) != 1 {
			t.Errorf("trace %d: stop %q (%s), %d calls", i, tr.StopReason, tr.Error, len(tr.ToolCalls))
			continue
		}
		c := tr.ToolCalls[0]
		// Modulo the output, the response is the recorded one.
		rebuilt := tr.Response[:c.FeedbackAt] + "```output\n" + rec.outputs[0] + "\n```\n" + tr.Response[c.FeedbackAt+len(ToRL{}.Feedback(c.Output)):]
		if rebuilt != rec.response {
			t.Errorf("trace %d: the response differs beyond the output", i)
		}
		if strings.TrimRight(c.Output, "\n") == rec.outputs[0] && c.Status == "finished" {
			same++
		} else {
			t.Logf("trace %d: ran %s, shown %q, recorded %q", i, c.Status, c.Output, rec.outputs[0])
		}
	}
	t.Logf("%d of %d outputs identical to ToRA's", same, len(trs))
	if same < len(trs)*9/10 {
		t.Errorf("only %d of %d outputs match the recorded ones", same, len(trs))
	}
}
