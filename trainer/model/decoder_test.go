package model

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// TestDecodeBatch: a batch of single-token steps over caches of
// different lengths gives each cache what its own Append gives.
func TestDecodeBatch(t *testing.T) {
	m := newModelT(t, tinyConfig(false), 71)
	roughen(m, 72)
	rng := rand.New(rand.NewPCG(73, 73))
	seqs := randomSeqs(rng, 5, 2, 30, VocabSize)
	batched := make([]*Cache, len(seqs))
	alone := make([]*Cache, len(seqs))
	for i, s := range seqs {
		batched[i], alone[i] = m.NewCache(), m.NewCache()
		for _, c := range []*Cache{batched[i], alone[i]} {
			if _, err := c.Append(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	var sc batchScratch
	for step := range 4 {
		toks := make([]int, len(seqs))
		for i := range toks {
			toks[i] = rng.IntN(VocabSize)
		}
		m.decodeBatch(batched, toks, &sc)
		for i, c := range alone {
			want, err := c.Append(toks[i : i+1])
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range batched[i].logits {
				if math.Abs(float64(v-want[j])) > 1e-4 {
					t.Fatalf("step %d, cache %d, logit %d: batched %g, alone %g", step, i, j, v, want[j])
				}
			}
			if batched[i].Len() != c.Len() {
				t.Fatalf("cache %d holds %d tokens batched, %d alone", i, batched[i].Len(), c.Len())
			}
		}
	}
}

func TestDecoder(t *testing.T) {
	m, _ := scripted(t)
	d := m.NewDecoder(2, 4)
	prompt := func(s string) []int { return append([]int{BOS}, m.tok.Encode(s)...) }
	// Many concurrent greedy generations: each gives its line.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			s := scriptTexts[i%2]
			g, err := d.Generate(context.Background(), nil, prompt(s[0]), Sampling{Reproducible: i%3 == 0})
			if err != nil {
				t.Error(err)
				return
			}
			if g.Text != s[1] || g.Finish != FinishStop {
				t.Errorf("%q: %q (%s), want %q", s[0], g.Text, g.Finish, s[1])
			}
		})
	}
	wg.Wait()

	// Prefill, then generate from the filled cache.
	c := m.NewCache()
	p := prompt(scriptTexts[0][0])
	if err := d.Prefill(context.Background(), c, p[:len(p)-1]); err != nil {
		t.Fatal(err)
	}
	if c.Len() != len(p)-1 {
		t.Fatalf("prefilled cache holds %d tokens, want %d", c.Len(), len(p)-1)
	}
	if g, err := d.Generate(context.Background(), c, p, Sampling{}); err != nil || g.Text != scriptTexts[0][1] {
		t.Fatalf("Generate from a prefilled cache: %v, %v", g, err)
	}
	if err := d.Prefill(context.Background(), newModelT(t, tinyConfig(false), 1).NewCache(), p); err == nil {
		t.Error("Prefill accepted another model's cache")
	}

	d.Close()
	d.Close() // idempotent
	if _, err := d.Generate(context.Background(), nil, p, Sampling{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Generate after Close: %v", err)
	}
}
