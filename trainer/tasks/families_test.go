package tasks

import (
	"context"
	"fmt"
	"testing"

	"github.com/retool-rl/retool/trainer/reward"
)

// Hand-computed ground truths, one or more per family.
var answerTests = []struct {
	family   string
	ops      []string
	answer   string
	question string // phrasing 0; "" when not checked
}{
	{"mul", []string{"12345", "6789"}, "83810205", "What is 12345 * 6789?"},
	{"mul", []string{"999", "999"}, "998001", ""},
	{"modpow", []string{"2", "100", "1000"}, "376", "Compute 2^100 mod 1000."},
	{"modpow", []string{"3", "4", "5"}, "1", ""},
	{"gcd", []string{"8624", "3120"}, "16", "gcd(8624, 3120) = ?"},
	{"gcd", []string{"48", "18"}, "6", ""},
	{"lcm", []string{"21", "6"}, "42", "lcm(21, 6) = ?"},
	{"lcm", []string{"4", "6"}, "12", ""},
	{"digitsum", []string{"2", "15"}, "26", "Sum of the digits of 2^15?"}, // 32768
	{"digitsum", []string{"2", "1000"}, "1366", ""},
	{"primes", []string{"100"}, "25", "How many primes are less than 100?"},
	{"primes", []string{"1000"}, "168", ""},
	{"primes", []string{"10000"}, "1229", ""},
	{"primes", []string{"20000"}, "2262", ""},
	{"primes", []string{"3"}, "1", ""},
	{"primes", []string{"2"}, "0", ""},
	{"binom", []string{"52", "5"}, "2598960", "What is C(52, 5)?"},
	{"binom", []string{"40", "20"}, "137846528820", ""},
	{"to-binary", []string{"300"}, "100101100", "Write 300 in binary."},
	{"to-binary", []string{"255"}, "11111111", ""},
	{"from-binary", []string{"100101100"}, "300", "Convert binary 100101100 to decimal."},
	{"from-hex", []string{"1f3a"}, "7994", "Convert hex 1f3a to decimal."},
	{"from-hex", []string{"ff"}, "255", ""},
	{"sum-k", []string{"100"}, "5050", "What is 1 + 2 + ... + 100?"},
	{"sum-k2", []string{"10"}, "385", "What is 1^2 + 2^2 + ... + 10^2?"},
	{"sum-k2", []string{"100"}, "338350", ""},
	{"sum-k3", []string{"10"}, "3025", "What is 1^3 + 2^3 + ... + 10^3?"},
	{"arith-series", []string{"7", "4", "100"}, "20500", "What is 7 + 11 + 15 + ... + 403?"},
	{"add", []string{"3", "5"}, "8", "What is 3 + 5?"},
	{"sub", []string{"9", "4"}, "5", "What is 9 - 4?"},
	{"max", []string{"7", "42"}, "42", "Which is larger, 7 or 42?"},
	{"double", []string{"6"}, "12", "Double 6."},
	{"quad-roots", []string{"2", "3"}, "2, 3", "Solve x^2 - 5x + 6 = 0."},
	{"quad-roots", []string{"-3", "0"}, "-3, 0", "Solve x^2 + 3x = 0."},
	{"quad-roots", []string{"-3", "3"}, "-3, 3", "Solve x^2 - 9 = 0."},
	{"cubic-roots", []string{"1", "2", "3"}, "1, 2, 3", "Solve x^3 - 6x^2 + 11x - 6 = 0."},
	{"root-sum", []string{"-5", "2", "3"}, "0", "Sum of the roots of x^3 - 19x + 30 = 0?"},
	{"root-max", []string{"-4", "1", "6"}, "6", "Largest root of x^3 - 3x^2 - 22x + 24 = 0?"},
	{"coeff", []string{"2", "-3", "5", "2"}, "-1080", "Coefficient of x^2 in (2x - 3)^5?"},
	{"coeff", []string{"1", "1", "10", "5"}, "252", "Coefficient of x^5 in (x + 1)^10?"},
	{"telescope", []string{"20"}, "20/21", "Sum of 1/(k(k+1)) for k = 1..20?"},
	{"harmonic", []string{"10"}, "7381/2520", "Sum of 1/k for k = 1..10?"},
	{"harmonic", []string{"4"}, "25/12", ""},
}

func TestFamilyAnswers(t *testing.T) {
	covered := map[string]bool{}
	for _, tt := range answerTests {
		covered[tt.family] = true
		f := familyByName(tt.family)
		if f == nil {
			t.Errorf("no family %q", tt.family)
			continue
		}
		if !f.validOps(tt.ops) {
			t.Errorf("%s %v: operands not valid", tt.family, tt.ops)
		}
		if got := f.answer(tt.ops); got != tt.answer {
			t.Errorf("%s %v: answer %q; want %q", tt.family, tt.ops, got, tt.answer)
		}
		if q := f.question(0, tt.ops); tt.question != "" && q != tt.question {
			t.Errorf("%s %v: question %q; want %q", tt.family, tt.ops, q, tt.question)
		}
	}
	for _, name := range Families() {
		if !covered[name] {
			t.Errorf("family %s has no hand-computed case", name)
		}
	}
}

func TestPolyText(t *testing.T) {
	tests := []struct {
		c          []int64
		text, code string
	}{
		{[]int64{1, -5, 6}, "x^2 - 5x + 6", "x**2 - 5*x + 6"},
		{[]int64{1, 0, -9}, "x^2 - 9", "x**2 - 9"},
		{[]int64{1, 3, 0}, "x^2 + 3x", "x**2 + 3*x"},
		{[]int64{1, -1, -1, 1}, "x^3 - x^2 - x + 1", "x**3 - x**2 - x + 1"},
		{[]int64{-1, 2}, "-x + 2", "-x + 2"},
		{[]int64{2, -3}, "2x - 3", "2*x - 3"},
		{[]int64{0, 0}, "0", "0"},
	}
	for _, tt := range tests {
		if got := polyText(tt.c, false); got != tt.text {
			t.Errorf("polyText(%v) = %q; want %q", tt.c, got, tt.text)
		}
		if got := polyText(tt.c, true); got != tt.code {
			t.Errorf("polyText(%v, code) = %q; want %q", tt.c, got, tt.code)
		}
	}
	if got := rootsPoly([]string{"1", "2", "3"}); fmt.Sprint(got) != "[1 -6 11 -6]" {
		t.Errorf("rootsPoly(1, 2, 3) = %v", got)
	}
}

// The grader must accept every family's answer written as it is and
// reject the answers to other problems of the family: the ground truths
// are in forms trainer/reward compares exactly.
func TestAnswersGradeExactly(t *testing.T) {
	ctx := context.Background()
	for _, name := range Families() {
		ps := generate(t, 5, Options{Families: []string{name}}, 12)
		for i, p := range ps {
			boxed := "<answer>\n\\boxed{" + p.Answer + "}\n</answer>"
			if res, err := reward.Reward(ctx, boxed, p.Answer, reward.Options{}); err != nil || res.Reward != 1 {
				t.Errorf("%s: %q does not grade as itself: %+v, %v", p.ID, p.Answer, res, err)
			}
			for _, q := range ps[i+1:] {
				if q.Answer == p.Answer {
					continue
				}
				boxed := "<answer>\n\\boxed{" + q.Answer + "}\n</answer>"
				if res, err := reward.Reward(ctx, boxed, p.Answer, reward.Options{}); err != nil || res.Reward != -1 {
					t.Errorf("%s: %q grades equal to %q: %+v, %v", p.ID, q.Answer, p.Answer, res, err)
				}
			}
		}
	}
}

func TestValidOps(t *testing.T) {
	tests := []struct {
		family string
		ops    []string
		want   bool
	}{
		{"mul", []string{"12", "34"}, true},
		{"mul", []string{"12"}, false},
		{"mul", []string{"12", "x"}, false},
		{"from-binary", []string{"1012"}, false},
		{"from-hex", []string{"1F"}, false},
		{"from-hex", []string{"1f"}, true},
		{"quad-roots", []string{"3", "2"}, false},
		{"primes", []string{"1000000"}, false},
		{"coeff", []string{"1", "2", "3", "4"}, false},
		{"arith-series", []string{"1", "0", "5"}, false},
	}
	for _, tt := range tests {
		if got := familyByName(tt.family).validOps(tt.ops); got != tt.want {
			t.Errorf("%s %v valid = %v; want %v", tt.family, tt.ops, got, tt.want)
		}
	}
}
