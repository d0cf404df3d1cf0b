package algo

import (
	"context"
	"fmt"
	"math"
)

// PPO is proximal policy optimisation with a learned value (the model's
// value head), as the ReTool paper trains: generalised advantage
// estimation over the tokens the policy generated, the outcome reward at
// the last of them, whitened advantages, a clipped value loss.
type PPO struct {
	Learner     Learner
	Ref         Learner
	KLCoef      float64
	Clip        Clip
	LR          float64
	MaxGradNorm float64
	MiniBatches int
	// Gamma and Lambda of GAE; verl's defaults, 1 and 1, when both are 0.
	Gamma, Lambda float64
	// ValueCoef weighs the value loss (default 0.5); ValueClip bounds how
	// far a value moves from the old one in a step (default 0.2).
	ValueCoef, ValueClip float64
}

var _ Trainer = (*PPO)(nil)

// GAE computes advantages and returns over the trained positions of one
// sample: values[t] is the value before token t, the reward comes at the
// last trained token, and the positions in between that the policy did
// not generate (interpreter output) are skipped, as if the interpreter
// were part of the environment's transition. Untrained positions get 0.
func GAE(mask []float32, values []float64, reward, gamma, lambda float64) (adv, ret []float64) {
	adv = make([]float64, len(mask))
	ret = make([]float64, len(mask))
	var idx []int
	for t := 1; t < len(mask); t++ {
		if mask[t] != 0 {
			idx = append(idx, t)
		}
	}
	next, gae := 0.0, 0.0
	for k := len(idx) - 1; k >= 0; k-- {
		t := idx[k]
		r := 0.0
		if k == len(idx)-1 {
			r = reward
		}
		delta := r + gamma*next - values[t]
		gae = delta + gamma*lambda*gae
		adv[t], ret[t] = gae, gae+values[t]
		next = values[t]
	}
	return adv, ret
}

// valueLoss is PPO's clipped value loss, ½·max((v-R)², (clip(v)-R)²), and
// its derivative with respect to v.
func valueLoss(v, old, ret, clip float64) (loss, grad float64) {
	vc := old + math.Max(-clip, math.Min(clip, v-old))
	a, b := (v-ret)*(v-ret), (vc-ret)*(vc-ret)
	if a >= b {
		return 0.5 * a, v - ret
	}
	if vc != v { // clipped: constant in v
		return 0.5 * b, 0
	}
	return 0.5 * b, vc - ret
}

func (p *PPO) Step(ctx context.Context, batch []Sample) (Stats, error) {
	var st Stats
	if err := check(batch); err != nil {
		return st, fmt.Errorf("ppo: %w", err)
	}
	if p.Learner == nil {
		return st, fmt.Errorf("ppo: no learner")
	}
	outs, err := p.Learner.Forward(seqs(batch))
	if err != nil {
		return st, fmt.Errorf("ppo: score batch: %w", err)
	}
	gamma, lambda := p.Gamma, p.Lambda
	if gamma == 0 && lambda == 0 {
		gamma, lambda = 1, 1
	}
	adv := make([][]float64, len(batch))
	ret := make([][]float64, len(batch))
	old := make([][]float64, len(batch))
	var all []float64
	for i, s := range batch {
		if outs[i].Value == nil {
			return st, fmt.Errorf("ppo: the learner has no value head")
		}
		if s.OldLogp == nil {
			o := make([]float32, len(s.Tokens))
			copy(o[1:], outs[i].Logp)
			batch[i].OldLogp = o
		}
		// values[t] is the value before token t: the head's output at t-1.
		old[i] = make([]float64, len(s.Tokens))
		for t := 1; t < len(s.Tokens); t++ {
			old[i][t] = float64(outs[i].Value[t-1])
		}
		adv[i], ret[i] = GAE(s.Mask, old[i], s.Reward, gamma, lambda)
		for t, m := range s.Mask {
			if t > 0 && m != 0 {
				all = append(all, adv[i][t])
			}
		}
	}
	// Whitening over the batch, as verl does.
	m, sd := meanStd(all)
	for i, s := range batch {
		for t, mk := range s.Mask {
			if t > 0 && mk != 0 {
				adv[i][t] = (adv[i][t] - m) / (sd + advEps)
			}
		}
	}
	st.AdvMean, st.AdvStd = m, sd
	u := policyUpdate{
		learner: p.Learner, ref: p.Ref, klCoef: p.KLCoef, clip: p.Clip,
		lr: p.LR, maxGradNorm: orDefault(p.MaxGradNorm, 1), miniBatches: max(1, p.MiniBatches),
		adv: adv, returns: ret, oldValue: old,
		valueCoef: orDefault(p.ValueCoef, 0.5), valueClip: orDefault(p.ValueClip, 0.2),
	}
	if err := u.run(ctx, batch, &st); err != nil {
		return st, fmt.Errorf("ppo: %w", err)
	}
	return st, nil
}
