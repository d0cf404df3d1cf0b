package algo

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/retool-rl/retool/trainer/model"
)

// fakeLearner gives fixed log-probabilities and values and records the
// gradients asked of it, so the losses can be checked by hand.
type fakeLearner struct {
	logp, value [][]float32 // per sequence, per position
	mu          sync.Mutex
	grads       []model.Grads
	steps       int
	lr          float64
	norm        float64
}

func (f *fakeLearner) Forward(seqs [][]int) ([]model.Output, error) {
	out := make([]model.Output, len(seqs))
	for i := range seqs {
		out[i] = f.output(i)
	}
	return out, nil
}

func (f *fakeLearner) output(i int) model.Output {
	o := model.Output{Logp: f.logp[i], Entropy: make([]float32, len(f.logp[i]))}
	if f.value != nil {
		o.Value = f.value[i]
	}
	return o
}

func (f *fakeLearner) Accumulate(seqs [][]int, fn func(int, model.Output) model.Grads) error {
	f.grads = make([]model.Grads, len(seqs))
	var wg sync.WaitGroup
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := fn(i, f.output(i))
			f.mu.Lock()
			f.grads[i] = g
			f.mu.Unlock()
		}()
	}
	wg.Wait()
	return nil
}

func (f *fakeLearner) ZeroGrad()                        {}
func (f *fakeLearner) ClipGradNorm(max float64) float64 { return f.norm }
func (f *fakeLearner) ApplyGrads(lr float64)            { f.steps++; f.lr = lr }

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.7g, want %.7g", what, got, want)
	}
}

func TestSurrogate(t *testing.T) {
	c := Clip{Low: 0.2, High: 0.28}
	for _, tc := range []struct {
		name           string
		logp, old, adv float64
		loss, grad     float64
		clipped        bool
	}{
		{"on policy, positive", -1, -1, 2, -2, -2, false},
		{"on policy, negative", -1, -1, -0.5, 0.5, 0.5, false},
		// r = e^0.5 = 1.6487 > 1.28 with A > 0: clipped at 1.28·A.
		{"too likely, positive", -0.5, -1, 1, -1.28, 0, true},
		// r = 1.6487 with A < 0: the unclipped term is smaller, keeps its gradient.
		{"too likely, negative", -0.5, -1, -1, 1.6487213, 1.6487213, false},
		// r = e^-0.5 = 0.6065 < 0.8 with A < 0: clipped at 0.8·A.
		{"too unlikely, negative", -1.5, -1, -1, 0.8, 0, true},
		{"too unlikely, positive", -1.5, -1, 1, -0.6065307, -0.6065307, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, g, cl := surrogate(tc.logp, tc.old, tc.adv, c)
			near(t, "loss", l, tc.loss)
			near(t, "grad", g, tc.grad)
			if cl != tc.clipped {
				t.Errorf("clipped = %v, want %v", cl, tc.clipped)
			}
		})
	}
}

func TestKLK3(t *testing.T) {
	kl, g := klK3(-1, -1)
	near(t, "kl at equal", kl, 0)
	near(t, "grad at equal", g, 0)
	// ref - logp = 0.5: e^0.5 - 0.5 - 1 = 0.1487213; d/dlogp = 1 - e^0.5.
	kl, g = klK3(-1.5, -1)
	near(t, "kl", kl, 0.1487213)
	near(t, "grad", g, -0.6487213)
	// Finite difference of the value.
	h := 1e-6
	k1, _ := klK3(-1.5+h, -1)
	k0, _ := klK3(-1.5-h, -1)
	near(t, "fd grad", (k1-k0)/(2*h), g)
}

func TestGroupAdvantages(t *testing.T) {
	batch := []Sample{
		{Reward: 1, Group: 0}, {Reward: -1, Group: 0}, {Reward: -1, Group: 0}, {Reward: -1, Group: 0},
		{Reward: 1, Group: 1}, {Reward: 1, Group: 1},
	}
	adv := GroupAdvantages(batch, false)
	// Group 0: mean -0.5, std sqrt(0.75) = 0.8660254.
	near(t, "winner", adv[0], 1.5/0.8660254)
	near(t, "loser", adv[1], -0.5/0.8660254)
	near(t, "all equal", adv[4], 0)
	adv = GroupAdvantages(batch, true)
	near(t, "no std", adv[0], 1.5)
}

func TestGAE(t *testing.T) {
	// Tokens 0..5: prompt 0, model 1 2, interpreter 3, model 4 5.
	mask := []float32{0, 1, 1, 0, 1, 1}
	values := []float64{0, 0.1, 0.2, 0.9, 0.3, 0.4}
	adv, ret := GAE(mask, values, 1, 1, 1)
	// γ = λ = 1: the advantage is the reward minus the value at each
	// trained position, the interpreter position skipped.
	for t2, want := range []float64{0, 0.9, 0.8, 0, 0.7, 0.6} {
		near(t, "adv", adv[t2], want)
	}
	near(t, "return", ret[1], 1)
	// γ = 1, λ = 0.5: δ5 = 1-0.4 = 0.6; δ4 = 0.4-0.3 = 0.1 → 0.1+0.3 = 0.4;
	// δ2 = 0.3-0.2 = 0.1 → 0.1+0.2 = 0.3; δ1 = 0.2-0.1 = 0.1 → 0.1+0.15 = 0.25.
	adv, _ = GAE(mask, values, 1, 1, 0.5)
	for t2, want := range []float64{0, 0.25, 0.3, 0, 0.4, 0.6} {
		near(t, "adv λ=0.5", adv[t2], want)
	}
}

func TestValueLoss(t *testing.T) {
	l, g := valueLoss(0.5, 0.4, 1, 0.2)
	near(t, "loss", l, 0.125)
	near(t, "grad", g, -0.5)
	// v moved 0.6 past old: clipped to 0.6, whose loss (0.08) is smaller,
	// so the unclipped one (0.02) … is the max only if larger; here
	// (1.0-1)² = 0 < (0.6-1)² = 0.16: the clipped term wins, no gradient.
	l, g = valueLoss(1.0, 0.4, 1, 0.2)
	near(t, "clipped loss", l, 0.08)
	near(t, "clipped grad", g, 0)
}

func TestGRPOGradients(t *testing.T) {
	// Two samples of one prompt; tokens: prompt, model, interpreter, model.
	mask := []float32{0, 1, 0, 1}
	f := &fakeLearner{
		logp: [][]float32{{-1, -2, -0.5}, {-1, -2, -0.5}},
		norm: 0.5,
	}
	old := []float32{0, -1, 0, -0.5}
	batch := []Sample{
		{Tokens: []int{1, 2, 3, 4}, Mask: mask, OldLogp: old, Reward: 1, Group: 7},
		{Tokens: []int{1, 2, 3, 4}, Mask: mask, OldLogp: old, Reward: -1, Group: 7},
	}
	g := &GRPO{Learner: f, Clip: Clip{0.2, 0.28}, LR: 0.1}
	st, err := g.Step(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	// On policy (logp = old at trained tokens): advantages ±1/(1+eps),
	// gradient -A/N with N = 4 trained tokens, and none on the masked one.
	a := 1 / (1 + advEps)
	want := [][]float32{{float32(-a / 4), 0, float32(-a / 4)}, {float32(a / 4), 0, float32(a / 4)}}
	for i := range want {
		for j := range want[i] {
			near(t, "grad", float64(f.grads[i].Logp[j]), float64(want[i][j]))
		}
	}
	if f.steps != 1 || f.lr != 0.1 || st.Updates != 1 || st.Tokens != 4 {
		t.Errorf("steps %d lr %v updates %d tokens %d", f.steps, f.lr, st.Updates, st.Tokens)
	}
	near(t, "policy loss", st.PolicyLoss, 0)
	near(t, "grad norm", st.GradNorm, 0.5)
}

func TestGRPOKL(t *testing.T) {
	mask := []float32{0, 1, 1}
	f := &fakeLearner{logp: [][]float32{{-1, -1}, {-1, -1}}}
	ref := &fakeLearner{logp: [][]float32{{-0.5, -1}, {-0.5, -1}}}
	batch := []Sample{
		{Tokens: []int{1, 2, 3}, Mask: mask, Reward: 1, Group: 0},
		{Tokens: []int{1, 2, 3}, Mask: mask, Reward: 1, Group: 0},
	}
	g := &GRPO{Learner: f, Ref: ref, KLCoef: 0.1, Clip: Clip{0.2, 0.2}, LR: 1}
	st, err := g.Step(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	// Equal rewards: zero advantage; the gradient is the KL term's alone,
	// 0.1·(1 - e^0.5)/4 at the first token and 0 at the second.
	near(t, "kl grad", float64(f.grads[0].Logp[0]), 0.1*(1-math.Exp(0.5))/4)
	near(t, "no kl grad", float64(f.grads[0].Logp[1]), 0)
	near(t, "kl", st.KL, (math.Exp(0.5)-1.5)/2)
}

func TestPPOValueGradients(t *testing.T) {
	mask := []float32{0, 1, 1}
	f := &fakeLearner{
		logp:  [][]float32{{-1, -1}},
		value: [][]float32{{0.5, 0.5}},
	}
	batch := []Sample{{Tokens: []int{1, 2, 3}, Mask: mask, Reward: 1}}
	p := &PPO{Learner: f, Clip: Clip{0.2, 0.2}, LR: 1}
	st, err := p.Step(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	// Returns are 1 at both tokens (γ = λ = 1); values 0.5: the value
	// gradient is 0.5·(0.5-1)/2 per token.
	for t2 := range 2 {
		near(t, "value grad", float64(f.grads[0].Value[t2]), 0.5*(0.5-1)/2)
	}
	near(t, "value loss", st.ValueLoss, 0.125)
}

func TestPPONeedsValueHead(t *testing.T) {
	f := &fakeLearner{logp: [][]float32{{-1, -1}}}
	_, err := (&PPO{Learner: f}).Step(context.Background(), []Sample{{Tokens: []int{1, 2, 3}, Mask: []float32{0, 1, 1}}})
	if err == nil {
		t.Fatal("PPO without a value head: no error")
	}
}

func TestNonFinite(t *testing.T) {
	f := &fakeLearner{logp: [][]float32{{-1, -1}, {-1, -1}}, norm: math.NaN()}
	batch := []Sample{
		{Tokens: []int{1, 2, 3}, Mask: []float32{0, 1, 1}, Reward: 1},
		{Tokens: []int{1, 2, 3}, Mask: []float32{0, 1, 1}, Reward: -1},
	}
	_, err := (&GRPO{Learner: f, LR: 1}).Step(context.Background(), batch)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	if f.steps != 0 {
		t.Error("a non-finite step was applied")
	}
}

func TestBadBatches(t *testing.T) {
	f := &fakeLearner{logp: [][]float32{{-1}}}
	for name, b := range map[string][]Sample{
		"empty":      nil,
		"short":      {{Tokens: []int{1}, Mask: []float32{1}}},
		"mask":       {{Tokens: []int{1, 2}, Mask: []float32{1}}},
		"old logp":   {{Tokens: []int{1, 2}, Mask: []float32{0, 1}, OldLogp: []float32{0}}},
		"nan reward": {{Tokens: []int{1, 2}, Mask: []float32{0, 1}, Reward: math.NaN()}},
	} {
		if _, err := (&GRPO{Learner: f}).Step(context.Background(), b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSFT(t *testing.T) {
	f := &fakeLearner{logp: [][]float32{{-1, -2, -3}}}
	s := &SFT{Learner: f}
	st, err := s.Step(context.Background(), []Sample{{Tokens: []int{1, 2, 3, 4}, Mask: []float32{0, 1, 0, 1}}}, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "loss", st.Loss, 2) // (1 + 3) / 2
	want := []float32{-0.5, 0, -0.5}
	for i, w := range want {
		near(t, "grad", float64(f.grads[0].Logp[i]), float64(w))
	}
	nll, err := NLL(f, []Sample{{Tokens: []int{1, 2, 3, 4}, Mask: []float32{0, 0, 1, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "nll", nll, 2.5)
}
