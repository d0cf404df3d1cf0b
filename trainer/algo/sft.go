package algo

import (
	"context"
	"errors"
	"fmt"

	"github.com/retool-rl/retool/trainer/model"
)

// SFT is supervised fine-tuning, the cold start: the mean negative
// log-likelihood of the masked-in tokens (the interpreter's output stays
// masked out, as in RL, so the model never learns to predict it).
type SFT struct {
	Learner     Learner
	MaxGradNorm float64 // 0: 1.0
}

// Step takes one optimizer step on batch at learning rate lr and returns
// the batch's loss before the step.
func (s *SFT) Step(ctx context.Context, batch []Sample, lr float64) (Stats, error) {
	var st Stats
	if err := check(batch); err != nil {
		return st, fmt.Errorf("sft: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	ntok := 0
	for _, b := range batch {
		ntok += trained(b)
	}
	if ntok == 0 {
		return st, errors.New("sft: no trained tokens in the batch")
	}
	scale := 1 / float64(ntok)
	var sm sums
	s.Learner.ZeroGrad()
	err := s.Learner.Accumulate(seqs(batch), func(i int, out model.Output) model.Grads {
		g := model.Grads{Logp: make([]float32, len(out.Logp))}
		var nll, ent float64
		for t := range out.Logp {
			if m := batch[i].Mask[t+1]; m != 0 {
				nll -= float64(m) * float64(out.Logp[t])
				g.Logp[t] = -m * float32(scale)
				if out.Entropy != nil {
					ent += float64(out.Entropy[t])
				}
			}
		}
		sm.add(nll, 0, 0, ent, 0, 0)
		return g
	})
	if err != nil {
		return st, fmt.Errorf("sft: %w", err)
	}
	st.Loss = sm.policy * scale
	st.Entropy = sm.entropy * scale
	st.Tokens = ntok
	norm := s.Learner.ClipGradNorm(orDefault(s.MaxGradNorm, 1))
	st.GradNorm = norm
	if !finite(st.Loss) || !finite(norm) {
		return st, fmt.Errorf("sft: loss %v, gradient norm %v: %w", st.Loss, norm, ErrNonFinite)
	}
	s.Learner.ApplyGrads(lr)
	st.Updates = 1
	return st, nil
}

// NLL is the mean negative log-likelihood of the masked-in tokens of
// samples under l, without training: the held-out loss that decides when
// the cold start stops improving.
func NLL(l Learner, samples []Sample) (float64, error) {
	if err := check(samples); err != nil {
		return 0, fmt.Errorf("nll: %w", err)
	}
	outs, err := l.Forward(seqs(samples))
	if err != nil {
		return 0, fmt.Errorf("nll: %w", err)
	}
	var nll, n float64
	for i, s := range samples {
		for t, lp := range outs[i].Logp {
			if m := s.Mask[t+1]; m != 0 {
				nll -= float64(m) * float64(lp)
				n += float64(m)
			}
		}
	}
	if n == 0 {
		return 0, errors.New("nll: no masked-in tokens")
	}
	return nll / n, nil
}
