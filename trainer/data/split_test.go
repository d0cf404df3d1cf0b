package data

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestDedup(t *testing.T) {
	p := func(id, prompt, answer string) Problem { return Problem{ID: id, Prompt: prompt, Answer: answer} }
	tests := []struct {
		name      string
		in        []Problem
		wantIDs   []string
		conflicts int
	}{
		{"empty", nil, []string{}, 0},
		{"no duplicates", []Problem{p("a", "x", "1"), p("b", "y", "1")}, []string{"a", "b"}, 0},
		{"same answer", []Problem{p("a", "x", "1"), p("b", "x", " 1 "), p("c", "x", "1")}, []string{"a"}, 0},
		{"two answers count once", []Problem{p("a", "x", "1"), p("b", "x", "2"), p("c", "x", "3"), p("d", "y", "5"), p("e", "y", "6")}, []string{"a", "d"}, 2},
		{"keeps the first", []Problem{p("b", "x", "2"), p("a", "x", "1")}, []string{"b"}, 1},
		{"exact text", []Problem{p("a", "x", "1"), p("b", "x ", "1")}, []string{"a", "b"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, c := Dedup(tt.in)
			ids := []string{}
			for _, q := range out {
				ids = append(ids, q.ID)
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) || c != tt.conflicts {
				t.Errorf("got %q, %d conflicts; want %q, %d", ids, c, tt.wantIDs, tt.conflicts)
			}
		})
	}
}

func synthetic(n int) []Problem {
	ps := make([]Problem, n)
	for i := range ps {
		ps[i] = Problem{ID: fmt.Sprintf("set-%d", i), Group: fmt.Sprintf("set-%d", i)}
	}
	return ps
}

func ids(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func TestSplit(t *testing.T) {
	ps := synthetic(20000)
	tests := []struct {
		heldOut float64
		seed    int64
	}{{0, 1}, {0.05, 1}, {0.2, 1}, {0.2, 2}, {0.5, 7}, {1, 1}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%g/seed%d", tt.heldOut, tt.seed), func(t *testing.T) {
			train, test := Split(ps, tt.heldOut, tt.seed)
			if len(train)+len(test) != len(ps) {
				t.Fatalf("lost problems: %d + %d", len(train), len(test))
			}
			frac := float64(len(test)) / float64(len(ps))
			if d := frac - tt.heldOut; d < -0.015 || d > 0.015 {
				t.Errorf("held out %.4f, want about %g", frac, tt.heldOut)
			}
			// Deterministic and independent of order.
			shuffled := slices.Clone(ps)
			rand.New(rand.NewSource(99)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			train2, test2 := Split(shuffled, tt.heldOut, tt.seed)
			a, b := ids(test), ids(test2)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) || len(train2) != len(train) {
				t.Error("split depends on order")
			}
			// Input order kept.
			if !slices.IsSortedFunc(test, func(x, y Problem) int { return idx(x) - idx(y) }) {
				t.Error("test half not in input order")
			}
		})
	}
	// Different seeds give different splits.
	_, a := Split(ps, 0.2, 1)
	_, b := Split(ps, 0.2, 2)
	if slices.Equal(ids(a), ids(b)) {
		t.Error("seed has no effect")
	}
}

func idx(p Problem) int {
	var i int
	fmt.Sscanf(p.ID, "set-%d", &i)
	return i
}

func TestSplitKeepsGroups(t *testing.T) {
	// Copies of a problem (aime2024_dapo's 32 repeats) stay on one side.
	var ps []Problem
	for g := range 200 {
		for k := range 4 {
			id := fmt.Sprintf("g-%d", g)
			ps = append(ps, Problem{ID: fmt.Sprintf("%s#%d", id, k), Group: id})
		}
	}
	train, test := Split(ps, 0.3, 5)
	side := map[string]string{}
	for name, half := range map[string][]Problem{"train": train, "test": test} {
		for _, p := range half {
			if s, ok := side[p.Group]; ok && s != name {
				t.Fatalf("group %s split across halves", p.Group)
			}
			side[p.Group] = name
		}
	}
	if len(test)%4 != 0 || len(test) == 0 {
		t.Errorf("test has %d rows", len(test))
	}
}

func TestSplitShared(t *testing.T) {
	dir := sharedDir(t)
	ps, err := Named("aime2024_dapo", dir)
	if err != nil {
		t.Fatal(err)
	}
	train, test := Split(ps, 0.2, 42)
	if len(train)%32 != 0 || len(test)%32 != 0 || len(test) == 0 {
		t.Errorf("train %d test %d: repeats separated", len(train), len(test))
	}
}

func BenchmarkLoadDAPO(b *testing.B) {
	dir := sharedDir(b)
	path := filepath.Join(dir, "dapo_math_17k.parquet")
	s, _ := Lookup("dapo17k")
	for b.Loop() {
		ps, err := LoadParquet(path, s.Mapping)
		if err != nil || len(ps) != 17917 {
			b.Fatal(len(ps), err)
		}
	}
}
