package eval

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
)

// call builds a tool call.
func call(lang, status string, pos int, code string) rollout.ToolCall {
	return rollout.ToolCall{Language: lang, Status: status, Position: pos, Code: code}
}

// rec builds a graded record.
func rec(dataset, problem string, sample int, correct bool, extracted, response, stop string, calls ...rollout.ToolCall) Record {
	g := reward.Result{Reward: -1, Extracted: extracted}
	if correct {
		g.Reward = 1
	}
	return Record{Dataset: dataset, Problem: problem, Answer: "5", Grade: g, Trajectory: rollout.Trajectory{
		PromptID: problem, Sample: sample, Response: response, StopReason: stop, ToolCalls: calls,
		Segments: []rollout.Segment{{Source: rollout.SourcePrompt, Text: "Q"}, {Source: rollout.SourceModel, Text: response}},
	}}
}

// fixture is a small run whose every metric is worked out by hand in
// TestSummarize.
func fixture() []Record {
	s2 := rec("a", "p1", 2, false, "7", "héllo", "max_tokens", call("sympy", "timeout", 3, "a\nb\nc"))
	s2.Trajectory.Segments[1].TokenIDs = []int{1, 2, 3}
	p2 := rec("a", "p2", 0, true, "3", "01234567890123456789", "answer",
		call("python", "finished", 0, "print(1)\n"), call("python", rollout.StatusSkipped, 15, "z"))
	p2.GradeError = "boom"
	b := rec("b", "q1", 0, false, "", "xy", "error")
	b.Trajectory.Error = "policy: down"
	return []Record{
		rec("a", "p1", 1, false, "7", "", "eos"),
		rec("a", "p1", 0, true, "5", "abcdefghij", "answer",
			call("python", "failed", 2, "x=1\n\ny=2\n"), call("python", "finished", 6, "x=1\n  \ny=2")),
		s2,
		p2,
		rec("a", "p2", 0, false, "4", "dup", "eos"), // a duplicate: ignored
		b,
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarize(t *testing.T) {
	s := Summarize(fixture(), []int{3, 1, 2, 5, 2, 0})
	if !reflect.DeepEqual(s.Ks, []int{1, 2, 3, 5}) {
		t.Fatalf("ks %v", s.Ks)
	}
	if len(s.Datasets) != 2 || s.Datasets[0].Dataset != "a" || s.Datasets[1].Dataset != "b" || s.Overall.Dataset != OverallName {
		t.Fatalf("datasets %+v", s.Datasets)
	}
	a, all := s.Datasets[0], s.Overall
	checks := []struct {
		name      string
		got, want any
	}{
		{"problems", a.Problems, 2},
		{"samples", a.Samples, 4},
		{"duplicates", a.Duplicates, 1},
		{"min samples", a.MinSamples, 1},
		{"max samples", a.MaxSamples, 3},
		{"correct", a.Correct, 2},
		{"pass@1", a.PassAt1, 0.5},
		{"pass@k", a.PassAtK, []AtK{{1, 2.0 / 3, 2}, {2, 2.0 / 3, 1}, {3, 1, 1}}},
		{"maj@k", a.MajAtK, []AtK{{1, 1, 2}, {2, 1, 1}, {3, 0, 1}}},
		{"chars", a.ResponseChars, Dist{Count: 4, Mean: 8.75, Median: 7.5, P90: 17, Min: 0, Max: 20}},
		{"tokens", *a.ResponseTokens, Dist{Count: 1, Mean: 3, Median: 3, P90: 3, Min: 3, Max: 3}},
		{"empty", a.EmptyResponses, 1},
		{"code responses", a.CodeResponses, 3},
		{"code ratio", a.CodeRatio, 0.75},
		{"code lines", a.CodeLines, 2.0},
		{"code lines with code", a.CodeLinesWithCode, 8.0 / 3},
		{"tool calls", a.ToolCalls, 4},
		{"calls per response", a.ToolCallsPerResponse, 1.0},
		{"skipped", a.SkippedCalls, 1},
		{"correct code", a.CorrectCode, 2},
		{"last code correct", a.LastCodePassCorrect, Rate{2, 2, 1}},
		{"last code incorrect", a.LastCodePassIncorrect, Rate{0, 1, 0}},
		{"position count", a.CodePosition.Count, 3},
		{"position mean", a.CodePosition.Mean, 0.7 / 3},
		{"position median", a.CodePosition.Median, 0.2},
		{"self-corrections", a.SelfCorrections, 1},
		{"self-correcting", a.SelfCorrecting, 1},
		{"self-correction share", a.SelfCorrectionShare, 0.25},
		{"tools", a.Tools, []ToolStat{{"python", 3, 2, 2.0 / 3, 2}, {"sympy", 1, 0, 0, 1}}},
		{"statuses", a.ToolStatuses, map[string]int{"failed": 1, "finished": 2, "timeout": 1, "skipped": 1}},
		{"stops", a.StopReasons, map[string]int{"answer": 2, "eos": 1, "max_tokens": 1}},
		{"trajectory errors", a.TrajectoryErrors, 0},
		{"grade errors", a.GradeErrors, 1},
		{"b tokens", s.Datasets[1].ResponseTokens == nil, true},
		{"b maj", s.Datasets[1].MajAtK, []AtK{{1, 0, 1}}},
		{"all problems", all.Problems, 3},
		{"all samples", all.Samples, 5},
		{"all pass@1", all.PassAt1, 0.4},
		{"all pass@k", all.PassAtK, []AtK{{1, (1.0/3 + 1) / 3, 3}, {2, 2.0 / 3, 1}, {3, 1, 1}}},
		{"all trajectory errors", all.TrajectoryErrors, 1},
		{"all stops", all.StopReasons["error"], 1},
		{"all code ratio", all.CodeRatio, 0.6},
	}
	for _, c := range checks {
		if !equal(c.got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, c.got, c.want)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"pass_at_1"`, `"pass_at_k"`, `"maj_at_k"`, `"code_ratio"`, `"last_code_pass_correct"`, `"self_corrections"`, `"tools"`, `"code_position"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// equal compares with a tolerance on floats, also inside structs/slices.
func equal(got, want any) bool {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	return equalValue(g, w)
}

func equalValue(g, w reflect.Value) bool {
	if g.Type() != w.Type() {
		return false
	}
	switch g.Kind() {
	case reflect.Float64:
		return near(g.Float(), w.Float())
	case reflect.Slice:
		if g.Len() != w.Len() {
			return false
		}
		for i := range g.Len() {
			if !equalValue(g.Index(i), w.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range g.NumField() {
			if !equalValue(g.Field(i), w.Field(i)) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(g.Interface(), w.Interface())
	}
}

func TestSummarizeEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		records []Record
		ks      []int
		check   func(t *testing.T, s Summary)
	}{
		{"no records", nil, nil, func(t *testing.T, s Summary) {
			t.Helper()
			if len(s.Ks) != 0 || len(s.Datasets) != 0 || s.Overall.Samples != 0 || s.Overall.PassAt1 != 0 || len(s.Overall.PassAtK) != 0 {
				t.Fatalf("%+v", s)
			}
			if _, err := json.Marshal(s); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(s.Markdown(), "No records") {
				t.Fatal(s.Markdown())
			}
		}},
		{"default ks", fixture(), nil, func(t *testing.T, s Summary) {
			t.Helper()
			if !reflect.DeepEqual(s.Ks, []int{1, 2, 3}) {
				t.Fatalf("ks %v", s.Ks)
			}
		}},
		{"k above every n", fixture()[:3], []int{4}, func(t *testing.T, s Summary) {
			t.Helper()
			if len(s.Overall.PassAtK) != 0 || len(s.Overall.MajAtK) != 0 {
				t.Fatalf("%+v", s.Overall.PassAtK)
			}
		}},
		{"empty responses without code", []Record{rec("d", "x", 0, false, "", "", "eos"), rec("d", "x", 1, false, "", "", "eos")}, []int{2},
			func(t *testing.T, s Summary) {
				t.Helper()
				m := s.Overall
				if m.EmptyResponses != 2 || m.CodeRatio != 0 || m.CodePosition.Count != 0 || m.LastCodePassIncorrect.Total != 0 ||
					m.ResponseChars.Mean != 0 || m.MajAtK[0].Value != 0 || m.PassAtK[0].Value != 0 {
					t.Fatalf("%+v", m)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, Summarize(tt.records, tt.ks)) })
	}
}

// bruteForcePassAtK enumerates every k-subset of n samples, the first c
// of them correct, and returns the share holding a correct one.
func bruteForcePassAtK(n, c, k int) float64 {
	hit, all := 0, 0
	for mask := 0; mask < 1<<n; mask++ {
		if popcount(mask) != k {
			continue
		}
		all++
		if mask&(1<<c-1) != 0 {
			hit++
		}
	}
	return float64(hit) / float64(all)
}

func popcount(x int) int {
	n := 0
	for ; x > 0; x &= x - 1 {
		n++
	}
	return n
}

func TestPassAtKAgainstEnumeration(t *testing.T) {
	for n := 1; n <= 8; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				if got, want := PassAtK(n, c, k), bruteForcePassAtK(n, c, k); !near(got, want) {
					t.Errorf("pass@%d n=%d c=%d: %v, want %v", k, n, c, got, want)
				}
			}
		}
	}
	tests := []struct {
		n, c, k int
		want    float64
	}{
		{3, 1, 4, 0}, {0, 0, 1, 0}, {5, 2, 0, 0},
		{1000, 1, 1, 0.001}, {1000, 999, 2, 1}, {200, 10, 100, 1 - 0.0007710260627178}, // 1 − C(190,100)/C(200,100),
	}
	for _, tt := range tests {
		if got := PassAtK(tt.n, tt.c, tt.k); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("PassAtK(%d,%d,%d) = %v, want %v", tt.n, tt.c, tt.k, got, tt.want)
		}
	}
}

func TestMajorityCorrect(t *testing.T) {
	s := func(extracted string, correct bool) Record { return rec("d", "p", 0, correct, extracted, "", "answer") }
	tests := []struct {
		name    string
		samples []Record
		want    bool
	}{
		{"none", nil, false},
		{"no answers", []Record{s("", false), s("  ", false)}, false},
		{"single correct", []Record{s("5", true)}, true},
		{"majority wrong", []Record{s("5", true), s("7", false), s("7", false)}, false},
		{"majority right after normalising", []Record{s("7", false), s("005", true), s(`\boxed{5}`, true), s("5.0", true)}, true},
		{"tie: first seen wins (correct)", []Record{s("5", true), s("7", false), s("7", false), s("5", true)}, true},
		{"tie: first seen wins (wrong)", []Record{s("7", false), s("5", true), s("5", true), s("7", false)}, false},
		{"empty answers do not vote", []Record{s("", false), s("", false), s("5", true)}, true},
		{"the first record of the answer decides", []Record{s("5", false), s("5", true)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MajorityCorrect(tt.samples); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelfCorrections(t *testing.T) {
	c := func(statuses ...string) []rollout.ToolCall {
		var out []rollout.ToolCall
		for i, s := range statuses {
			out = append(out, call("python", s, i, "x"))
		}
		return out
	}
	tests := []struct {
		name  string
		calls []rollout.ToolCall
		want  int
	}{
		{"no calls", nil, 0},
		{"all fine", c("finished", "finished"), 0},
		{"failed then fixed", c("failed", "finished"), 1},
		{"several failures, one fix", c("failed", "timeout", "finished"), 1},
		{"two fixes", c("failed", "finished", "timeout", "finished"), 2},
		{"never fixed", c("finished", "failed"), 0},
		{"skipped ignored", c("failed", rollout.StatusSkipped, "finished"), 1},
		{"skipped is no fix", c("failed", rollout.StatusSkipped), 0},
		{"skipped is no failure", c(rollout.StatusSkipped, "finished"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SelfCorrections(tt.calls); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCodeLines(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{{"", 0}, {"x", 1}, {"x\n", 1}, {"x\n\n  \ny\n", 2}, {"\n\n", 0}}
	for _, tt := range tests {
		if got := CodeLines(tt.code); got != tt.want {
			t.Errorf("CodeLines(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := Summarize(fixture(), []int{1, 2, 3}).Markdown()
	for _, want := range []string{
		"| metric | a | b | all |", "| pass@1 (avg@n) | 50.0% | 0.0% | 40.0% |", "| pass@2 | 66.7% (1) | – | 66.7% (1) |",
		"| maj@3 | 0.0% (1) | – | 0.0% (1) |", "| python | 3 calls, 66.7% ok |", "| code ratio | 75.0% (3) |",
		"| last code passes: incorrect responses | 0.0% (0/1) |", "| self-corrections | 1 | 0 | 1 |",
		"| max_tokens | 1 | 0 | 1 |", "| model tokens: mean | 3 | – | 3 |", "| grading errors | 1 | 0 | 1 |",
		"| duplicate records (ignored) | 1 | 0 | 1 |", "| pass@1, mean over problems | 66.7% | 0.0% | 44.4% |",
		"| sympy | 1 call, 0.0% ok |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	one := Summarize(fixture()[:1], nil).Markdown()
	if !strings.Contains(one, "| metric | a |\n") || !strings.Contains(one, "No tool calls.") || strings.Contains(one, "mean over problems") {
		t.Errorf("one data set:\n%s", one)
	}
}
