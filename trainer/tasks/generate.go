package tasks

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// Kinds of problems.
const (
	KindTool     = "tool"     // needs exact computation a tiny model cannot do in its head
	KindText     = "text"     // easy enough to answer directly
	KindSymbolic = "symbolic" // algebra, where SymPy serves better than plain Python
)

// Splits.
const (
	SplitTrain   = "train"
	SplitHeldout = "heldout" // unseen operands, training phrasings
	// SplitHeldoutPhrasing has unseen operands and unseen phrasings.
	SplitHeldoutPhrasing = "heldout-phrasing"
)

// HeldoutPercent is the share of each family's operands kept out of
// training. It is a constant, not an option: generators built separately
// for training and for evaluation must agree on the partition.
const HeldoutPercent = 20

// Problem is one generated question with its exact answer.
type Problem struct {
	// ID names the family, the operands and the phrasing, e.g.
	// "mul/4817,9323/0": stable across runs, and unique because it
	// determines the question.
	ID       string `json:"id"`
	Family   string `json:"family"`
	Kind     string `json:"kind"`
	Question string `json:"question"`
	Answer   string `json:"answer"` // the ground truth, in a form trainer/reward grades exactly
	Split    string `json:"split"`
	// Operands are the numbers the question is built from, in the family's
	// order; ColdStart writes the code from them.
	Operands []string `json:"operands"`
}

// Options choose what a Generator draws.
type Options struct {
	// Families to draw from, by name (see Families); empty means all.
	Families []string
	// Kinds gives each kind ("tool", "text", "symbolic") its share of the
	// problems; a kind missing from a non-nil map gets none, and the share
	// of a kind none of whose families is chosen is dropped. Nil lets every
	// family weigh the same, so kinds get shares in proportion to their
	// number of families.
	Kinds map[string]float64
	// Weights gives a family its weight within its kind (default 1).
	Weights map[string]float64
	// Split is SplitTrain (the default), SplitHeldout or
	// SplitHeldoutPhrasing.
	Split string
}

// Generator draws problems. It is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	split   string
	fams    []*family
	weights []float64 // parallel to fams; zero once a family is exhausted
	seen    map[string]bool
}

// maxTries is how many draws a family gets to find a new question before it
// counts as exhausted (small families, such as single-digit sums, run out).
const maxTries = 1000

// Families lists the family names in a fixed order.
func Families() []string {
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.name
	}
	return names
}

// FamilyKind returns the kind of a family, or "" for an unknown name.
func FamilyKind(name string) string {
	if f := familyByName(name); f != nil {
		return f.kind
	}
	return ""
}

func familyByName(name string) *family {
	for _, f := range families {
		if f.name == name {
			return f
		}
	}
	return nil
}

func unknownFamily(name string) error {
	return fmt.Errorf("tasks: unknown family %q (known: %s)", name, strings.Join(Families(), ", "))
}

// NewGenerator returns a generator whose output depends only on seed and
// opts.
func NewGenerator(seed int64, opts Options) (*Generator, error) {
	split := opts.Split
	switch split {
	case "":
		split = SplitTrain
	case SplitTrain, SplitHeldout, SplitHeldoutPhrasing:
	default:
		return nil, fmt.Errorf("tasks: unknown split %q (%s, %s, %s)", opts.Split, SplitTrain, SplitHeldout, SplitHeldoutPhrasing)
	}
	var fams []*family
	if len(opts.Families) == 0 {
		fams = append(fams, families...)
	} else {
		picked := map[string]bool{}
		for _, name := range opts.Families {
			f := familyByName(name)
			if f == nil {
				return nil, unknownFamily(name)
			}
			if !picked[name] {
				picked[name] = true
				fams = append(fams, f)
			}
		}
	}
	// Keys are sorted so that an error names the same one on every run.
	for _, k := range slices.Sorted(maps.Keys(opts.Kinds)) {
		if k != KindTool && k != KindText && k != KindSymbolic {
			return nil, fmt.Errorf("tasks: unknown kind %q (%s, %s, %s)", k, KindTool, KindText, KindSymbolic)
		}
		if w := opts.Kinds[k]; w < 0 {
			return nil, fmt.Errorf("tasks: negative weight %v for kind %q", w, k)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(opts.Weights)) {
		if familyByName(name) == nil {
			return nil, unknownFamily(name)
		}
		if opts.Weights[name] < 0 {
			return nil, fmt.Errorf("tasks: negative weight %v for family %q", opts.Weights[name], name)
		}
	}

	weight := func(f *family) float64 {
		if w, ok := opts.Weights[f.name]; ok {
			return w
		}
		return 1
	}
	inKind := map[string]float64{}
	for _, f := range fams {
		inKind[f.kind] += weight(f)
	}
	ws := make([]float64, len(fams))
	total := 0.0
	for i, f := range fams {
		ws[i] = weight(f)
		if opts.Kinds != nil && inKind[f.kind] > 0 {
			ws[i] = opts.Kinds[f.kind] * ws[i] / inKind[f.kind]
		}
		total += ws[i]
	}
	if total == 0 {
		return nil, errors.New("tasks: the options give every family weight zero")
	}
	return &Generator{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x7265746f6f6c)), // "retool"
		split:   split,
		fams:    fams,
		weights: ws,
		seen:    map[string]bool{},
	}, nil
}

// Generate returns n problems, or fewer when every chosen family has run
// out of new questions for the split. A question is never returned twice by
// one Generator, within a call or across calls.
func (g *Generator) Generate(n int) []Problem {
	out := make([]Problem, 0, max(n, 0))
	for len(out) < n {
		i, ok := g.pickFamily()
		if !ok {
			break
		}
		p, ok := g.draw(g.fams[i])
		if !ok {
			g.weights[i] = 0
			continue
		}
		out = append(out, p)
	}
	return out
}

func (g *Generator) pickFamily() (int, bool) {
	total := 0.0
	for _, w := range g.weights {
		total += w
	}
	if total == 0 {
		return 0, false
	}
	x := g.rng.Float64() * total
	last := 0
	for i, w := range g.weights {
		if w == 0 {
			continue
		}
		if x < w {
			return i, true
		}
		x -= w
		last = i
	}
	return last, true // rounding left x just above the last weight
}

// draw finds a new question of family f in the generator's split.
func (g *Generator) draw(f *family) (Problem, bool) {
	wantHeldout := g.split != SplitTrain
	first, count := 0, len(f.train)
	if g.split == SplitHeldoutPhrasing {
		first, count = len(f.train), len(f.heldout)
	}
	for range maxTries {
		ops := f.draw(g.rng)
		if f.isHeldout(ops) != wantHeldout {
			continue
		}
		k := first + g.rng.IntN(count)
		q := f.question(k, ops)
		if g.seen[q] {
			continue
		}
		g.seen[q] = true
		return Problem{
			ID:       fmt.Sprintf("%s/%s/%d", f.name, strings.Join(ops, ","), k),
			Family:   f.name,
			Kind:     f.kind,
			Question: q,
			Answer:   f.answer(ops),
			Split:    g.split,
			Operands: ops,
		}, true
	}
	return Problem{}, false
}

// hashString is FNV-1a followed by a SplitMix64 finalizer, which spreads
// the nearby values FNV gives for nearby strings ("12,34" and "12,35").
func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
