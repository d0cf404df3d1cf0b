package reward

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

type mathRecord struct {
	Answer   string `json:"answer"`
	UniqueID string `json:"unique_id"`
	Problem  string `json:"problem"`
	Subject  string `json:"subject"`
	Solution string `json:"solution"`
}

// TestMATH500RoundTrip: every MATH-500 answer survives a \boxed{} response
// (Extract + Equivalent), equals its normalized form both ways, and
// Normalize is idempotent on it.
func TestMATH500RoundTrip(t *testing.T) {
	recs := readJSONL[mathRecord](t, "math500.jsonl")
	if len(recs) != 500 {
		t.Fatalf("%d records", len(recs))
	}
	ctx := context.Background()
	templates := []string{
		"The answer is $\\boxed{%s}$.",
		"<answer>\n\\boxed{%s}\n</answer>",
		"We get \\[\\boxed{%s}\\]",
	}
	for _, r := range recs {
		a := r.Answer
		for _, tmpl := range templates {
			resp := fmt.Sprintf(tmpl, a)
			got, how, ok := Extract(resp)
			if !ok || got != a {
				t.Errorf("%s: Extract(%q) = %q, %v", r.UniqueID, resp, got, how)
				continue
			}
			res, err := Reward(ctx, resp, a, Options{})
			if err != nil || res.Reward != 1 {
				t.Errorf("%s: Reward(%q, %q) = %+v, %v", r.UniqueID, resp, a, res, err)
			}
		}
		n := Normalize(a)
		if Normalize(n) != n {
			t.Errorf("%s: Normalize not idempotent: %q → %q → %q", r.UniqueID, a, n, Normalize(n))
		}
		for _, p := range [][2]string{{n, a}, {a, n}} {
			if v, err := Equivalent(ctx, p[0], p[1], nil); err != nil || !v.Equal {
				t.Errorf("%s: Equivalent(%q, %q) = %+v, %v", r.UniqueID, p[0], p[1], v, err)
			}
		}
		if v, _ := Equivalent(ctx, "$"+a+"$", a, nil); !v.Equal {
			t.Errorf("%s: $-wrapped %q not equal: %+v", r.UniqueID, a, v)
		}
	}
}

// TestMATH500Distinct: answers that differ (as normalized strings) must not
// be judged equal, apart from pairs that really are the same object. Each
// answer is compared with the next 25 distinct ones.
func TestMATH500Distinct(t *testing.T) {
	recs := readJSONL[mathRecord](t, "math500.jsonl")
	seen := map[string]bool{}
	var answers []string
	for _, r := range recs {
		if n := Normalize(r.Answer); !seen[n] {
			seen[n] = true
			answers = append(answers, r.Answer)
		}
	}
	// pairs that are genuinely the same object although written differently
	same := map[[2]string]bool{
		{"-2,1", "(-2,1)"}: true, // a bare list compares in order with a (…) tuple
		{"40_9", "40"}:     true, // a base subscript is optional
	}
	ctx := context.Background()
	pairs := 0
	for i, a := range answers {
		for j := i + 1; j < len(answers) && j <= i+25; j++ {
			b := answers[j]
			pairs++
			v, err := Equivalent(ctx, a, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v.Equal && !same[[2]string{a, b}] && !same[[2]string{b, a}] {
				t.Errorf("distinct answers judged equal: %q vs %q (%+v)", a, b, v)
			}
		}
	}
	t.Logf("%d distinct answers, %d pairs compared", len(answers), pairs)
}

var plainInt = regexp.MustCompile(`^-?\d+$`)

// TestMATH500Variants builds equivalent and inequivalent variants of the
// MATH-500 answers (well over 300 cases).
func TestMATH500Variants(t *testing.T) {
	recs := readJSONL[mathRecord](t, "math500.jsonl")
	ctx := context.Background()
	type variant struct {
		got   string
		equal bool
	}
	cases := 0
	for _, r := range recs {
		a := r.Answer
		var vs []variant
		if plainInt.MatchString(a) {
			neg := strings.HasPrefix(a, "-")
			digits := strings.TrimPrefix(a, "-")
			sign := ""
			if neg {
				sign = "-"
			}
			vs = append(vs,
				variant{sign + "00" + digits, true},
				variant{a + ".0", true},
				variant{a + ".00", true},
				variant{"x = " + a, true},
				variant{"\\text{" + a + "}", true},
				variant{a + "^\\circ", true},
				variant{"\\$" + a, true},
				variant{a + ".", true},
				variant{incr(a), false},
				variant{a + ".5", false},
				variant{a + "0", a == "0"},
			)
			if !neg && a != "0" {
				vs = append(vs, variant{"-" + a, false})
			}
			if len(digits) > 3 {
				vs = append(vs, variant{sign + withCommas(digits), true}, variant{sign + strings.Replace(withCommas(digits), ",", ",\\!", -1), true})
			}
		}
		switch a {
		case `\frac{14}{3}`:
			vs = append(vs, variant{"14/3", true}, variant{`\dfrac{14}{3}`, true}, variant{"4.6667", true}, variant{"4.67", false}, variant{`\frac{3}{14}`, false})
		case `11\sqrt2`:
			vs = append(vs, variant{`11\sqrt{2}`, true}, variant{`\sqrt{242}`, true}, variant{"11*sqrt(2)", true}, variant{`11\sqrt3`, false})
		case `\text{(C)}`:
			vs = append(vs, variant{"C", true}, variant{"(C)", true}, variant{`\text{C}`, true}, variant{"B", false})
		case `90^\circ`:
			vs = append(vs, variant{"90", true}, variant{"90°", true}, variant{"90 degrees", true}, variant{"91", false})
		case `864 \mbox{ inches}^2`:
			vs = append(vs, variant{"864", true}, variant{`864 \text{ in}^2`, true}, variant{"863", false})
		case `\left( 3, \frac{\pi}{2} \right)`:
			vs = append(vs, variant{`(3,\pi/2)`, true}, variant{`(3, \frac{\pi}{2})`, true}, variant{`(3, 1.570796)`, true}, variant{`(\frac{\pi}{2}, 3)`, false}, variant{`[3,\frac{\pi}{2}]`, false})
		case "(3,4]":
			vs = append(vs, variant{`\left(3, 4\right]`, true}, variant{"(3,4)", false}, variant{"[3,4]", false}, variant{"(3,4", false})
		case "1,-2":
			vs = append(vs, variant{"-2,1", true}, variant{"-2, 1", true}, variant{`\{1,-2\}`, true}, variant{"x=1, x=-2", true}, variant{"1", false}, variant{"1,2", false})
		case `10,\!080`:
			vs = append(vs, variant{"10080", true}, variant{"10,080", true}, variant{"10080.0", true}, variant{"10,081", false})
		case "52_8":
			vs = append(vs, variant{"52_{8}", true}, variant{"52", true}, variant{"42", false}, variant{"52_{10}", false})
		case "x=5":
			vs = append(vs, variant{"5", true}, variant{"x = 5", true}, variant{"5.0", true}, variant{"-5", false})
		case `\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}`:
			vs = append(vs, variant{`\begin{bmatrix} -1 & 0 \\ 0 & -1 \end{bmatrix}`, true}, variant{`\begin{pmatrix} -1 & 0 \\ 0 & 1 \end{pmatrix}`, false})
		case `\$18.90`:
			vs = append(vs, variant{"18.90", true}, variant{"18.9", true}, variant{`\$18.9`, true}, variant{"18.99", false})
		case `\frac{\sqrt{3}}{3}`:
			vs = append(vs, variant{`\frac{1}{\sqrt{3}}`, true}, variant{`\sqrt{\frac13}`, true}, variant{"0.57735", true}, variant{`\sqrt{3}`, false})
		}
		for _, v := range vs {
			cases++
			got, err := Equivalent(ctx, v.got, a, nil)
			if err != nil || got.Equal != v.equal {
				t.Errorf("Equivalent(%q, %q) = %+v, %v; want equal=%v", v.got, a, got, err, v.equal)
			}
		}
	}
	if cases < 300 {
		t.Errorf("only %d variant cases", cases)
	}
	t.Logf("%d MATH-500 variant cases", cases)
}

// incr adds one to an integer string.
func incr(a string) string {
	var n int64
	fmt.Sscan(a, &n)
	return fmt.Sprint(n + 1)
}

func withCommas(d string) string {
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

type aimeRecord struct {
	ID      json.RawMessage `json:"id"`
	Problem string          `json:"problem"`
	Answer  json.RawMessage `json:"answer"`
}

// answerString reads an answer that is a JSON string or number.
func answerString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	return n.String()
}

// TestAIME: zero-padded string answers (AIME 2024) and integer answers
// (AIME 2025), in ReTool, DAPO strict and plain formats.
func TestAIME(t *testing.T) {
	ctx := context.Background()
	padded := 0
	for _, file := range []string{"aime2024.jsonl", "aime2025.jsonl"} {
		recs := readJSONL[aimeRecord](t, file)
		if len(recs) != 30 {
			t.Fatalf("%s: %d records", file, len(recs))
		}
		for _, r := range recs {
			gt := answerString(t, r.Answer)
			if strings.HasPrefix(gt, "0") {
				padded++
			}
			val := strings.TrimLeft(gt, "0")
			if val == "" {
				val = "0"
			}
			wrong := incr(val)
			checks := []struct {
				resp   string
				opts   Options
				reward float64
			}{
				{"<answer>\n\\boxed{" + val + "}\n</answer>", Options{}, 1},
				{"so \\boxed{" + gt + "}", Options{}, 1},
				{"\\boxed{" + val + ".0}", Options{}, 1},
				{"Answer: " + val, Options{Strict: true}, 1},
				{"Answer: $" + gt + "$", Options{Strict: true}, 1},
				{"Answer: " + wrong, Options{Strict: true}, -1},
				{"\\boxed{" + wrong + "}", Options{}, -1},
				{"no final answer " + val, Options{}, -1},
			}
			for _, c := range checks {
				res, err := Reward(ctx, c.resp, gt, c.opts)
				if err != nil || res.Reward != c.reward {
					t.Errorf("%s %s: Reward(%q, %q, strict=%v) = %+v, %v; want %v", file, r.ID, c.resp, gt, c.opts.Strict, res, err, c.reward)
				}
			}
		}
	}
	if padded != 7 {
		t.Errorf("expected 7 zero-padded AIME 2024 answers, found %d", padded)
	}
}

type gsm8kRecord struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

type toraRecord struct {
	Idx  int      `json:"idx"`
	GT   string   `json:"gt"`
	Code []string `json:"code"`
	Pred []string `json:"pred"`
}

// TestGSM8K: the "#### N" answers of the test set are extracted, agree with
// the ground truth recorded in the ToRA traces, and survive variants.
func TestGSM8K(t *testing.T) {
	recs := readJSONL[gsm8kRecord](t, "gsm8k_test.jsonl")
	tora := readJSONL[toraRecord](t, "traces/tora70b_gsm8k_test.jsonl")
	if len(recs) != len(tora) {
		t.Fatalf("%d problems, %d traces", len(recs), len(tora))
	}
	ctx := context.Background()
	commas, negatives := 0, 0
	for i, r := range recs {
		a, how, ok := Extract(r.Answer)
		if !ok || how != GSM8K {
			t.Fatalf("problem %d: no #### answer (%v)", i, how)
		}
		if strings.Contains(a, ",") {
			commas++
		}
		if strings.HasPrefix(a, "-") {
			negatives++
		}
		if a != tora[i].GT {
			t.Errorf("problem %d: extracted %q, ToRA gt %q", i, a, tora[i].GT)
		}
		plain := strings.ReplaceAll(a, ",", "")
		for _, v := range []struct {
			got   string
			equal bool
		}{{plain, true}, {"\\$" + a, true}, {plain + ".00", true}, {plain + " dollars", true}, {incr(plain), false}} {
			got, err := Equivalent(ctx, v.got, a, nil)
			if err != nil || got.Equal != v.equal {
				t.Errorf("problem %d: Equivalent(%q, %q) = %+v, %v; want %v", i, v.got, a, got, err, v.equal)
			}
		}
	}
	if commas != 14 || negatives != 2 {
		t.Errorf("found %d answers with commas and %d negative ones; the data README says 14 and 2", commas, negatives)
	}
}

// TestToRATraces: extraction and grading on 1319 real tool-integrated
// responses (ToRA-70B on GSM8K). ToRA's own extraction (pred) uses fallbacks
// (program output, last number) that ExtractLenient mirrors.
func TestToRATraces(t *testing.T) {
	recs := readJSONL[toraRecord](t, "traces/tora70b_gsm8k_test.jsonl")
	ctx := context.Background()
	var n, extracted, extractedLenient, samePred, correct, correctLenient, toraCorrect int
	for _, r := range recs {
		if len(r.Code) != 1 || len(r.Pred) != 1 {
			t.Fatalf("trace %d: %d responses, %d preds", r.Idx, len(r.Code), len(r.Pred))
		}
		n++
		resp := r.Code[0]
		if _, _, ok := Extract(resp); ok {
			extracted++
		}
		al, _, ok := ExtractLenient(resp)
		if ok {
			extractedLenient++
		}
		if v, err := Equivalent(ctx, al, r.Pred[0], nil); err != nil {
			t.Fatal(err)
		} else if v.Equal {
			samePred++
		} else {
			t.Logf("trace %d: extracted %q, ToRA predicted %q", r.Idx, al, r.Pred[0])
		}
		res, err := Reward(ctx, resp, r.GT, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reward == 1 {
			correct++
		}
		if res, _ := Reward(ctx, resp, r.GT, Options{Lenient: true}); res.Reward == 1 {
			correctLenient++
		}
		if v, _ := Equivalent(ctx, r.Pred[0], r.GT, nil); v.Equal {
			toraCorrect++
		}
	}
	t.Logf("%d traces: extracted %d (lenient %d); reproduce ToRA's pred %d; correct %d (lenient %d); ToRA's preds graded correct %d",
		n, extracted, extractedLenient, samePred, correct, correctLenient, toraCorrect)
	if n != 1319 {
		t.Errorf("%d traces", n)
	}
	// floors: ToRA-70B scores 84.3% on GSM8K; its preds must grade alike
	if samePred < 1310 {
		t.Errorf("reproduced only %d of ToRA's %d predictions", samePred, n)
	}
	if extracted < 1300 || extractedLenient != n {
		t.Errorf("extracted %d (lenient %d) of %d", extracted, extractedLenient, n)
	}
	if correct < 1090 || correctLenient < 1100 || toraCorrect < 1100 {
		t.Errorf("graded correct: %d (lenient %d, ToRA's preds %d)", correct, correctLenient, toraCorrect)
	}
	if correctLenient != toraCorrect {
		t.Errorf("lenient grading (%d) and ToRA's preds (%d) disagree", correctLenient, toraCorrect)
	}
}

type toraExample struct {
	Dataset  string `json:"dataset"`
	GT       any    `json:"gt"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// TestToRACorpusExamples: the assistant turns of ToRA's corpus examples
// (MATH and GSM8K) are graded correct against their ground truth.
func TestToRACorpusExamples(t *testing.T) {
	recs := readJSONL[toraExample](t, "traces/tora_corpus_examples.jsonl")
	ctx := context.Background()
	correct := 0
	for i, r := range recs {
		var resp string
		for _, m := range r.Messages {
			if m.Role == "assistant" {
				resp = m.Content
			}
		}
		gt := fmt.Sprint(r.GT)
		res, err := Reward(ctx, resp, gt, Options{Lenient: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reward == 1 {
			correct++
		} else {
			t.Logf("example %d (%s): extracted %q (%v), gt %q: %+v", i, r.Dataset, res.Extracted, res.Method, gt, res.Verdict)
		}
	}
	t.Logf("%d of %d corpus examples graded correct", correct, len(recs))
	if correct < len(recs)-2 {
		t.Errorf("only %d of %d corpus examples graded correct", correct, len(recs))
	}
}
