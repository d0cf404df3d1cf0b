package algo

import (
	"context"
	"fmt"
)

// GRPO is Group Relative Policy Optimisation: the advantage of a sample
// is its reward normalised within the group of samples of its prompt, the
// same for each of its tokens; no value function.
type GRPO struct {
	Learner Learner
	// Ref, when set with KLCoef, adds a KL penalty to this frozen model
	// (the ReTool recipe uses none).
	Ref    Learner
	KLCoef float64
	Clip   Clip
	LR     float64
	// MaxGradNorm clips the global gradient norm (0: 1.0).
	MaxGradNorm float64
	// MiniBatches splits each batch into that many optimizer steps
	// (default 1: on-policy).
	MiniBatches int
	// NoStdNorm leaves advantages as reward minus the group mean (Dr.
	// GRPO), instead of dividing by the group's standard deviation.
	NoStdNorm bool
}

var _ Trainer = (*GRPO)(nil)

// advEps keeps a group whose rewards barely differ from exploding.
const advEps = 1e-6

// GroupAdvantages returns each sample's advantage: (r - mean) / (std +
// eps) within its group, or r - mean with noStd. A group whose rewards are
// all equal teaches nothing and gets 0.
func GroupAdvantages(batch []Sample, noStd bool) []float64 {
	groups := map[int][]float64{}
	for _, s := range batch {
		groups[s.Group] = append(groups[s.Group], s.Reward)
	}
	type ms struct{ mean, std float64 }
	stats := map[int]ms{}
	for g, rs := range groups {
		m, sd := meanStd(rs)
		stats[g] = ms{m, sd}
	}
	out := make([]float64, len(batch))
	for i, s := range batch {
		st := stats[s.Group]
		a := s.Reward - st.mean
		if !noStd {
			a /= st.std + advEps
		}
		out[i] = a
	}
	return out
}

func (g *GRPO) Step(ctx context.Context, batch []Sample) (Stats, error) {
	var st Stats
	if err := check(batch); err != nil {
		return st, fmt.Errorf("grpo: %w", err)
	}
	if g.Learner == nil {
		return st, fmt.Errorf("grpo: no learner")
	}
	if err := fillOldLogp(g.Learner, batch); err != nil {
		return st, fmt.Errorf("grpo: %w", err)
	}
	adv := GroupAdvantages(batch, g.NoStdNorm)
	st.AdvMean, st.AdvStd = meanStd(adv)
	perToken := make([][]float64, len(batch))
	for i, s := range batch {
		perToken[i] = make([]float64, len(s.Tokens))
		for t := range perToken[i] {
			perToken[i][t] = adv[i]
		}
	}
	u := policyUpdate{
		learner: g.Learner, ref: g.Ref, klCoef: g.KLCoef, clip: g.Clip,
		lr: g.LR, maxGradNorm: orDefault(g.MaxGradNorm, 1), miniBatches: max(1, g.MiniBatches),
		adv: perToken,
	}
	if err := u.run(ctx, batch, &st); err != nil {
		return st, fmt.Errorf("grpo: %w", err)
	}
	return st, nil
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}
