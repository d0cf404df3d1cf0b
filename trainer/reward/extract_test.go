package reward

import (
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name, response, want string
		how                  Method
	}{
		{"boxed", `So the total is $\boxed{42}$.`, "42", Boxed},
		{"nested braces", `Thus $\boxed{\frac{1}{2}}$`, `\frac{1}{2}`, Boxed},
		{"escaped set braces", `$\boxed{\{1,2\}}$`, `\{1,2\}`, Boxed},
		{"last boxed wins", `first \boxed{1} then \boxed{2}`, "2", Boxed},
		{"truncated last box", `\boxed{3} and finally \boxed{\frac{1`, "3", Boxed},
		{"fbox", `answer: see \fbox{7}`, "7", Boxed},
		{"boxed without braces", `so $\boxed 5$.`, "5", Boxed},
		{"boxed text", `\boxed{\text{(C)}}`, `\text{(C)}`, Boxed},
		{"answer tag with box", "<code>\n```python\nprint(1)\n```\n</code>\n<answer>\n\\boxed{12}\n</answer>", "12", AnswerTag},
		{"answer tag plain", "<answer>12</answer>", "12", AnswerTag},
		{"answer tag unclosed (stop sequence)", "reasoning\n<answer>\n\\boxed{-3}\n", "-3", AnswerTag},
		{"answer tag beats earlier box", `\boxed{3} wait <answer>\boxed{4}</answer>`, "4", AnswerTag},
		{"answer tag with math", `<answer>$x = 5$</answer>`, "x = 5", AnswerTag},
		{"answer tag with Answer line", "<answer>Answer: 9</answer>", "9", AnswerTag},
		{"DAPO answer line", "Let me compute.\nAnswer: 42", "42", DAPOAnswerLine},
		{"markdown answer line", "**Final Answer:** $\\frac{1}{2}$", `\frac{1}{2}`, DAPOAnswerLine},
		{"Minerva final answer", "Final Answer: The final answer is $5$. I hope it is correct.", "5", DAPOAnswerLine},
		{"last answer line", "Answer: 1\nmore work\nAnswer: 2", "2", DAPOAnswerLine},
		{"answer on the next line", "Answer:\n17", "17", DAPOAnswerLine},
		{"gsm8k", "Natalia sold 48/2 = 24 clips.\n#### 72", "72", GSM8K},
		{"gsm8k comma", "#### 2,125", "2,125", GSM8K},
		{"nothing", "I do not know, maybe 42.", "", None},
		{"empty box", `\boxed{}`, "", None},
		{"empty", "", "", None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, how, ok := Extract(tt.response)
			if got != tt.want || how != tt.how || ok != (tt.how != None) {
				t.Errorf("Extract(%q) = %q, %v, %v; want %q, %v", tt.response, got, how, ok, tt.want, tt.how)
			}
		})
	}
}

func TestExtractLenient(t *testing.T) {
	tests := []struct {
		name, response, want string
		how                  Method
	}{
		{"boxed first", `\boxed{1} the answer is 2`, "1", Boxed},
		{"answer is", "So the answer is 7.\nDone", "7", AnswerIs},
		{"tora output", "```python\nprint(0.6*100)\n```\n```output\n60.0\n```\n60% of the students enrolled.", "60.0", ProgramOutput},
		{"retool interpreter", "<code>\n```python\nprint(3)\n```\n</code>\n<interpreter>\n1\n3\n</interpreter>\n\nSo three.", "3", ProgramOutput},
		{"last number", "It costs 1,200 dollars, so 3 bags", "3", LastNumber},
		{"nothing at all", "no idea", "", None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, how, _ := ExtractLenient(tt.response)
			if got != tt.want || how != tt.how {
				t.Errorf("ExtractLenient(%q) = %q, %v; want %q, %v", tt.response, got, how, tt.want, tt.how)
			}
		})
	}
}

func TestExtractStrict(t *testing.T) {
	long := "Answer: 1\n" + strings.Repeat("x", 400)
	tests := []struct {
		name, response, want string
		how                  Method
	}{
		{"answer line", "Step 1 ...\nAnswer: 42", "42", DAPOAnswerLine},
		{"answer line beats box", `\boxed{41} Answer: 42`, "42", DAPOAnswerLine},
		{"box", `so \boxed{7}`, "7", Boxed},
		{"only the last 300 characters", long, "", None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, how, _ := ExtractStrict(tt.response)
			if got != tt.want || how != tt.how {
				t.Errorf("ExtractStrict = %q, %v; want %q, %v", got, how, tt.want, tt.how)
			}
		})
	}
}

func TestMethodText(t *testing.T) {
	for m := None; m <= LastNumber; m++ {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Method
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Errorf("round trip of %v: %v, %v", m, back, err)
		}
	}
	var m Method
	if err := m.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("unknown method name accepted")
	}
	if s := Method(99).String(); s != "Method(99)" {
		t.Errorf("String of unknown method = %q", s)
	}
}
