package reward

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestReward(t *testing.T) {
	retool := "Let me compute.\n<code>\n```python\nprint(14/3)\n```\n</code>\n<interpreter>\n4.666666666666667\n</interpreter>\n\n<answer>\n\\boxed{\\frac{14}{3}}\n</answer>"
	tests := []struct {
		name, response, gt string
		opts               Options
		reward             float64
		extracted          string
		how                Method
	}{
		{"retool correct", retool, `\dfrac{14}{3}`, Options{}, 1, `\frac{14}{3}`, AnswerTag},
		{"retool decimal gt", retool, "4.6667", Options{}, 1, `\frac{14}{3}`, AnswerTag},
		{"retool wrong", retool, "5", Options{}, -1, `\frac{14}{3}`, AnswerTag},
		{"no answer is -1", "I think it is 5", "5", Options{}, -1, "", None},
		{"lenient finds the number", "I think it is 5", "5", Options{Lenient: true}, 1, "5", LastNumber},
		{"interpreter output not an answer", "<interpreter>\n5\n</interpreter>", "5", Options{}, -1, "", None},
		{"aime padded", `\boxed{25}`, "025", Options{}, 1, "25", Boxed},
		{"dapo strict", "Step by step...\nAnswer: 42", "42", Options{Strict: true}, 1, "42", DAPOAnswerLine},
		{"dapo strict math", "Answer: $42$.", "42", Options{Strict: true}, 1, "$42$.", DAPOAnswerLine},
		{"dapo strict no numeric", "Answer: 0.5", `\frac12`, Options{Strict: true}, -1, "0.5", DAPOAnswerLine},
		{"dapo strict box", `so \boxed{42}`, "42", Options{Strict: true}, 1, "42", Boxed},
		{"dapo strict tail only", "Answer: 42\n" + strings.Repeat("blah ", 100), "42", Options{Strict: true}, -1, "", None},
		{"normal mode answer line", "Answer: 0.5", `\frac12`, Options{}, 1, "0.5", DAPOAnswerLine},
		{"gsm8k", "#### 2,125", "2125", Options{}, 1, "2,125", GSM8K},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Reward(context.Background(), tt.response, tt.gt, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reward != tt.reward || res.Extracted != tt.extracted || res.Method != tt.how {
				t.Errorf("Reward = %+v; want reward %v, extracted %q, method %v", res, tt.reward, tt.extracted, tt.how)
			}
			if (res.Reward == 1) != res.Verdict.Equal {
				t.Errorf("reward %v but verdict %+v", res.Reward, res.Verdict)
			}
		})
	}
}

func TestRewardErrors(t *testing.T) {
	ctx := context.Background()
	if res, err := Reward(ctx, `\boxed{1}`, "  ", Options{}); !errors.Is(err, ErrNoGroundTruth) || res.Reward != -1 {
		t.Errorf("empty ground truth: %+v, %v", res, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if res, err := Reward(cctx, `\boxed{1}`, "1", Options{}); !errors.Is(err, context.Canceled) || res.Reward != -1 {
		t.Errorf("cancelled: %+v, %v", res, err)
	}
	boom := errors.New("sandbox unavailable")
	res, err := Reward(ctx, `\boxed{\cot x}`, `\frac{\cos x}{\sin x}`, Options{Symbolic: &fakeSymbolic{err: boom}})
	if !errors.Is(err, boom) || res.Reward != -1 || res.Extracted != `\cot x` {
		t.Errorf("symbolic failure: %+v, %v", res, err)
	}
	// strict mode never consults the checker
	s := &fakeSymbolic{answer: true}
	res, err = Reward(ctx, `Answer: \cot x`, `\frac{\cos x}{\sin x}`, Options{Strict: true, Symbolic: s})
	if err != nil || res.Reward != -1 || len(s.calls) != 0 {
		t.Errorf("strict: %+v, %v, calls %v", res, err, s.calls)
	}
}

func TestResultJSON(t *testing.T) {
	res, err := Reward(context.Background(), `<answer>\boxed{025}</answer>`, "25", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"reward":1,"extracted":"025","method":"answer_tag","verdict":{"equal":true,"method":"normalized","detail":"25"}}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back != res {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}
