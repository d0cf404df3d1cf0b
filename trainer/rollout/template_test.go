package rollout

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestPromptsGolden(t *testing.T) {
	const q = "What is the smallest prime greater than 100?"
	langs := []string{"python", "sympy", "julia"}
	for _, name := range TemplateNames {
		t.Run(name, func(t *testing.T) {
			tmpl, err := TemplateByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if tmpl.Name() != name {
				t.Errorf("Name() = %q", tmpl.Name())
			}
			p := tmpl.Prompt(q, langs)
			if !strings.Contains(p, q) {
				t.Errorf("the prompt lacks the question")
			}
			golden(t, "prompts/"+name+".golden", p)
		})
	}
}

func TestReToolPromptIsTheReleasedOne(t *testing.T) {
	p := ReTool{}.Prompt("Q?", []string{"python", "sympy"})
	for _, want := range []string{
		"The Python code should be complete scripts, including necessary imports.",
		"`<interpreter>output_str</interpreter>`",
		"`<code>\n```python\ncode snippet\n```\n</code>`",
		"<answer>\n\\boxed{'The final answer goes here.'}\n</answer>",
		"*user question:*\nQ?\n",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("the ReTool prompt lacks %q", want)
		}
	}
	if strings.Contains(p, "sympy") {
		t.Error("the plain ReTool prompt must not list runtimes")
	}
	if p2 := (ReTool{ListRuntimes: true}).Prompt("Q?", []string{"python", "sympy"}); !strings.Contains(p2, "- sympy: ") {
		t.Errorf("the runtimes variant does not list sympy:\n%s", p2)
	}
}

func TestTemplateByName(t *testing.T) {
	for name, want := range map[string]string{"ReTool": "retool", "retool-runtimes": "retool-runtimes", "retool-mini": "retool-mini", "HERMES": "hermes", "torl": "torl", "tora": "torl"} {
		tmpl, err := TemplateByName(name)
		if err != nil || tmpl.Name() != want {
			t.Errorf("%q: %v %v", name, tmpl, err)
		}
	}
	if _, err := TemplateByName("chatml"); err == nil || !strings.Contains(err.Error(), "retool, retool-runtimes, retool-mini, hermes, torl") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestParseCall(t *testing.T) {
	cases := map[string]struct {
		tmpl       Template
		text       string
		state      callState
		lang, code string
		start      int // -1: don't check
	}{
		"retool python":               {ReTool{}, "Let me compute.\n<code>\n```python\nprint(1+1)\n```\n", closedCall, "python", "print(1+1)", len("Let me compute.\n")},
		"retool sympy":                {ReTool{}, "<code>\n```sympy\nfactor(x**2-1)\n```\n", closedCall, "sympy", "factor(x**2-1)", 0},
		"retool bare fence":           {ReTool{}, "<code>\n```\nx = 1\nprint(x)\n```\n", closedCall, "", "x = 1\nprint(x)", 0},
		"retool last fence wins":      {ReTool{}, "<code>\n```python\nA\n```\n```julia\nB\n```\n", closedCall, "julia", "B", 0},
		"retool earlier call ignored": {ReTool{}, "<code>\n```python\nA\n```\n</code> then <code>\n```python\nB\n```\n", closedCall, "python", "B", -1},
		"retool unfenced code":        {ReTool{}, "<code>\nprint(2)\n", closedCall, "", "print(2)", 0},
		"retool empty code":           {ReTool{}, "<code>\n```python\n```\n", closedCall, "python", "", 0},
		"retool unclosed fence":       {ReTool{}, "<code>\n```python\nprint(1)\n", openCall, "python", "print(1)\n", 0},
		"retool fence without <code>": {ReTool{}, "So:\n```python\nprint(3)\n```\n", closedCall, "python", "print(3)", len("So:\n")},
		"retool no call":              {ReTool{}, "The answer is 4.", noCall, "", "", -1},
		"retool info string":          {ReTool{}, "<code>\n```Python {.numberLines}\nprint(1)\n```\n", closedCall, "python", "print(1)", 0},
		"retool crlf":                 {ReTool{}, "<code>\r\n```python\r\nprint(1)\r\n```\r\n", closedCall, "python", "print(1)", 0},
		"hermes call": {Hermes{}, "I'll compute.\n<tool_call>\n{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"print(1)\", \"language\": \"sympy\"}}\n",
			closedCall, "sympy", "print(1)", len("I'll compute.\n")},
		"hermes no language":               {Hermes{}, `<tool_call>{"name": "code_interpreter", "arguments": {"code": "x=1\nprint(x)"}}`, closedCall, "", "x=1\nprint(x)", 0},
		"hermes tool named after language": {Hermes{}, `<tool_call>{"name": "julia", "arguments": {"code": "println(1)"}}`, closedCall, "julia", "println(1)", 0},
		"hermes arguments as string":       {Hermes{}, `<tool_call>{"name": "code_interpreter", "arguments": "{\"code\": \"print(5)\"}"}`, closedCall, "", "print(5)", 0},
		"hermes raw newlines":              {Hermes{}, "<tool_call>{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"a = 1\nprint(a)\"}}", closedCall, "", "a = 1\nprint(a)", 0},
		"hermes malformed":                 {Hermes{}, `<tool_call>{"name": "code_interpreter", "arguments": {"code": `, badCall, "", "", 0},
		"hermes empty":                     {Hermes{}, "<tool_call>\n", openCall, "", "", 0},
		"hermes none":                      {Hermes{}, "Done: \\boxed{3}", noCall, "", "", -1},
		"torl":                             {ToRL{}, "We compute.\n```python\nprint(6*7)\n```\n", closedCall, "python", "print(6*7)", len("We compute.\n")},
		"torl output fences skipped":       {ToRL{}, "```python\nA\n```\n```output\n1\n```\n", closedCall, "python", "A", 0},
		"torl unclosed":                    {ToRL{}, "```python\nprint(1", openCall, "python", "print(1", 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := parse(c.tmpl, c.text)
			if p.state != c.state || p.lang != c.lang || p.code != c.code || (c.start >= 0 && p.start != c.start) {
				t.Fatalf("got state %d lang %q code %q start %d (%s), want %d %q %q %d", p.state, p.lang, p.code, p.start, p.msg, c.state, c.lang, c.code, c.start)
			}
			lang, code, ok := c.tmpl.ParseCall(c.text)
			if ok != (c.state == closedCall) || (ok && (lang != c.lang || code != c.code)) {
				t.Fatalf("ParseCall = %q %q %v", lang, code, ok)
			}
		})
	}
}

func TestAnswerDone(t *testing.T) {
	cases := []struct {
		tmpl     Template
		response string
		want     bool
	}{
		{ReTool{}, "so\n<answer>\n\\boxed{7}\n</answer>", true},
		{ReTool{}, "so\n<answer>\n\\boxed{7}\n", false},
		{ReTool{}, "<answer>\\boxed{1}</answer> then <code>\n```python\nx\n```\n</code>\n<interpreter>\n1\n</interpreter>\n\nmore", false},
		{ReTool{}, "\\boxed{7}", false},
		{Hermes{}, "x\n</tool_response>\nThe answer is \\boxed{\\frac{1}{2}}.", true},
		{Hermes{}, "The answer is \\boxed{\\frac{1}{2}", false},
		{Hermes{}, "\\boxed{3}<tool_call>{}</tool_call>\n<tool_response>\n3\n</tool_response>\nso", false},
		{ToRL{}, "```output\n18\n```\nShe makes $\\boxed{18}$.", true},
		{ToRL{}, "```output\n18\n```\nShe makes", false},
	}
	for i, c := range cases {
		if got := c.tmpl.AnswerDone(c.response); got != c.want {
			t.Errorf("%d %s %q: %v", i, c.tmpl.Name(), c.response, got)
		}
	}
}

func TestFeedbackFormats(t *testing.T) {
	cases := []struct {
		tmpl Template
		want string
	}{
		{ReTool{}, "</code>\n<interpreter>\n42\n</interpreter>\n\n"},
		{Hermes{}, "</tool_call>\n<tool_response>\n42\n</tool_response>\n"},
		{ToRL{}, "```output\n42\n```\n"},
	}
	for _, c := range cases {
		if got := c.tmpl.Feedback("42\n"); got != c.want {
			t.Errorf("%s: %q", c.tmpl.Name(), got)
		}
		if !strings.HasPrefix(c.want, c.tmpl.Stop()[0]) {
			t.Errorf("%s: the feedback must start with the stop sequence it closes", c.tmpl.Name())
		}
	}
}

func TestPromptLanguages(t *testing.T) {
	got := promptLanguages(map[string]string{"python": "python", "python3": "python", "sympy": "sympy", "jl": "julia", "julia": "julia", "r": "rlang"}, "sympy")
	want := []string{"sympy", "julia", "python", "r"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v want %v", got, want)
	}
}
