package tasks

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func generate(t *testing.T, seed int64, opts Options, n int) []Problem {
	t.Helper()
	g, err := NewGenerator(seed, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g.Generate(n)
}

func TestGenerateDeterministic(t *testing.T) {
	for _, split := range []string{SplitTrain, SplitHeldout, SplitHeldoutPhrasing} {
		opts := Options{Split: split}
		a, b := generate(t, 42, opts, 300), generate(t, 42, opts, 300)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two generators with seed 42 differ", split)
		}
		if c := generate(t, 43, opts, 300); reflect.DeepEqual(a, c) {
			t.Errorf("%s: seeds 42 and 43 give the same problems", split)
		}
	}
}

func TestGenerateUnique(t *testing.T) {
	g, err := NewGenerator(1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	questions, ids := map[string]bool{}, map[string]bool{}
	for range 3 { // also across calls
		ps := g.Generate(1000)
		if len(ps) != 1000 {
			t.Fatalf("got %d problems, want 1000", len(ps))
		}
		for _, p := range ps {
			if questions[p.Question] {
				t.Errorf("question %q repeats", p.Question)
			}
			if ids[p.ID] {
				t.Errorf("ID %q repeats", p.ID)
			}
			questions[p.Question], ids[p.ID] = true, true
			if p.Split != SplitTrain || p.Kind != FamilyKind(p.Family) || p.Answer == "" {
				t.Errorf("bad problem %+v", p)
			}
			if !strings.HasPrefix(p.ID, p.Family+"/"+strings.Join(p.Operands, ",")+"/") {
				t.Errorf("ID %q does not name family %s and operands %v", p.ID, p.Family, p.Operands)
			}
			if n := len(p.Question); n < 8 || n > 64 {
				t.Errorf("question %q is %d bytes; want short", p.Question, n)
			}
		}
	}
}

// A family with few questions runs out: Generate returns fewer problems
// instead of looping or repeating itself.
func TestGenerateExhausts(t *testing.T) {
	for _, split := range []string{SplitTrain, SplitHeldout} {
		ps := generate(t, 1, Options{Families: []string{"double"}, Split: split}, 1000)
		if len(ps) == 0 || len(ps) > 9*3 {
			t.Errorf("%s: got %d doubling problems; want 1 to 27", split, len(ps))
		}
		seen := map[string]bool{}
		for _, p := range ps {
			if seen[p.Question] {
				t.Errorf("%s: question %q repeats", split, p.Question)
			}
			seen[p.Question] = true
		}
	}
}

// commutative lists the families whose operand order does not matter: the
// test's own notion of "the same numbers".
var commutative = map[string]bool{"mul": true, "gcd": true, "lcm": true, "add": true, "max": true}

func operandKey(p Problem) string {
	ops := slices.Clone(p.Operands)
	if commutative[p.Family] {
		slices.Sort(ops)
	}
	return p.Family + ":" + strings.Join(ops, ",")
}

func TestSplitsDisjointNumbers(t *testing.T) {
	train := map[string]bool{}
	trainQ := map[string]bool{}
	for _, p := range generate(t, 1, Options{}, 5000) {
		train[operandKey(p)] = true
		trainQ[p.Question] = true
	}
	for _, split := range []string{SplitHeldout, SplitHeldoutPhrasing} {
		ps := generate(t, 2, Options{Split: split}, 3000)
		if len(ps) < 2500 {
			t.Errorf("%s: only %d problems", split, len(ps))
		}
		fams := map[string]bool{}
		for _, p := range ps {
			fams[p.Family] = true
			if p.Split != split {
				t.Errorf("problem %s has split %q; want %q", p.ID, p.Split, split)
			}
			if train[operandKey(p)] {
				t.Errorf("%s: operands of %q (%s) also occur in training", split, p.Question, p.ID)
			}
			if trainQ[p.Question] {
				t.Errorf("%s: question %q also occurs in training", split, p.Question)
			}
		}
		if len(fams) < len(families)-2 {
			t.Errorf("%s: only %d families represented", split, len(fams))
		}
	}
}

// templateRe matches the questions a template can produce.
func templateRe(tmpl string) *regexp.Regexp {
	re := regexp.QuoteMeta(tmpl)
	re = regexp.MustCompile(`\\\{\d\\\}`).ReplaceAllString(re, "(.+)")
	return regexp.MustCompile("^" + re + "$")
}

func matchesAny(q string, res []*regexp.Regexp) bool {
	for _, re := range res {
		if re.MatchString(q) {
			return true
		}
	}
	return false
}

func TestSplitsPhrasings(t *testing.T) {
	trainRe, heldoutRe := map[string][]*regexp.Regexp{}, map[string][]*regexp.Regexp{}
	for _, f := range families {
		if len(f.train) < 2 || len(f.heldout) < 1 {
			t.Errorf("%s: %d training and %d held-out phrasings", f.name, len(f.train), len(f.heldout))
		}
		for _, tm := range f.train {
			trainRe[f.name] = append(trainRe[f.name], templateRe(tm))
		}
		for _, tm := range f.heldout {
			heldoutRe[f.name] = append(heldoutRe[f.name], templateRe(tm))
		}
	}
	for _, split := range []string{SplitTrain, SplitHeldout, SplitHeldoutPhrasing} {
		for _, p := range generate(t, 3, Options{Split: split}, 2000) {
			inTrain, inHeldout := matchesAny(p.Question, trainRe[p.Family]), matchesAny(p.Question, heldoutRe[p.Family])
			if wantTrain := split != SplitHeldoutPhrasing; inTrain != wantTrain || inHeldout == wantTrain {
				t.Errorf("%s: %q matches training phrasings %v, held-out phrasings %v", split, p.Question, inTrain, inHeldout)
			}
		}
	}
}

func TestOptionsMix(t *testing.T) {
	count := func(ps []Problem) map[string]int {
		m := map[string]int{}
		for _, p := range ps {
			m[p.Kind]++
			m[p.Family]++
		}
		return m
	}
	tests := []struct {
		name  string
		opts  Options
		check func(map[string]int) bool
	}{
		{"text only", Options{Kinds: map[string]float64{KindText: 1}},
			func(m map[string]int) bool { return m[KindText] > 0 && m[KindTool] == 0 && m[KindSymbolic] == 0 }},
		{"tool and symbolic halves", Options{Kinds: map[string]float64{KindTool: 1, KindSymbolic: 1}},
			func(m map[string]int) bool { return m[KindText] == 0 && m[KindTool] > 800 && m[KindSymbolic] > 800 }},
		{"family subset", Options{Families: []string{"mul", "gcd"}},
			func(m map[string]int) bool { return m["mul"] > 800 && m["gcd"] > 800 }},
		{"weight zero drops", Options{Families: []string{"mul", "gcd"}, Weights: map[string]float64{"gcd": 0}},
			func(m map[string]int) bool { return m["mul"] == 2000 }},
		{"weights within kind", Options{Kinds: map[string]float64{KindTool: 1}, Weights: map[string]float64{"mul": 1000}},
			func(m map[string]int) bool { return m["mul"] > 1800 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := count(generate(t, 1, tt.opts, 2000))
			if !tt.check(m) {
				t.Errorf("counts %v", m)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unknown family", Options{Families: []string{"mul", "division"}}, `unknown family "division"`},
		{"unknown weighted family", Options{Weights: map[string]float64{"divide": 1}}, `unknown family "divide"`},
		{"unknown kind", Options{Kinds: map[string]float64{"hard": 1}}, `unknown kind "hard"`},
		{"unknown split", Options{Split: "test"}, `unknown split "test"`},
		{"negative weight", Options{Weights: map[string]float64{"mul": -1}}, "negative weight"},
		{"all zero", Options{Families: []string{"mul"}, Kinds: map[string]float64{KindText: 1}}, "weight zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGenerator(1, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewGenerator(1, Options{Families: []string{"division"}}); err == nil || !strings.Contains(err.Error(), "mul") {
		t.Errorf("error %v does not list the known families", err)
	}
}
