package algo

import (
	"context"
	"fmt"
	"math"

	"github.com/retool-rl/retool/trainer/model"
)

// Clip bounds the policy ratio as DAPO and the ReTool recipe do: a
// separate, higher upper bound lets unlikely tokens that pay off grow
// faster, which keeps exploration alive.
type Clip struct{ Low, High float64 }

// surrogate is the clipped policy-gradient loss of one token,
// -min(r·A, clip(r, 1-low, 1+high)·A) with r = exp(logp-old), and its
// derivative with respect to logp. clipped reports that the clipped term
// won (the token then gets no gradient).
func surrogate(logp, old, adv float64, c Clip) (loss, grad float64, clipped bool) {
	r := math.Exp(logp - old)
	unclipped := r * adv
	rc := math.Min(math.Max(r, 1-c.Low), 1+c.High)
	if cl := rc * adv; cl < unclipped {
		return -cl, 0, true
	}
	return -unclipped, -unclipped, false
}

// klK3 is the k3 estimator of KL(π‖ref) at one token (Schulman's
// unbiased, always positive estimator, as verl's "low_var_kl") and its
// derivative with respect to logp.
func klK3(logp, ref float64) (kl, grad float64) {
	d := ref - logp
	e := math.Exp(d)
	return e - d - 1, 1 - e
}

// policyUpdate is what GRPO and PPO share: the batch split into
// mini-batches, each one optimizer step over the clipped surrogate (plus
// KL and a value loss when asked), token-mean aggregated.
type policyUpdate struct {
	learner     Learner
	ref         Learner // nil: no KL term
	klCoef      float64
	clip        Clip
	lr          float64
	maxGradNorm float64
	miniBatches int
	// adv holds per-sample, per-token advantages (index = token index).
	adv [][]float64
	// returns and oldValue, when set, add PPO's clipped value loss.
	returns, oldValue [][]float64
	valueCoef         float64
	valueClip         float64
}

func (u *policyUpdate) run(ctx context.Context, batch []Sample, st *Stats) error {
	var ref []model.Output
	if u.ref != nil && u.klCoef != 0 {
		var err error
		if ref, err = u.ref.Forward(seqs(batch)); err != nil {
			return fmt.Errorf("reference forward: %w", err)
		}
	}
	mb := max(1, min(u.miniBatches, len(batch)))
	var total sums
	for k := 0; k < mb; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		lo, hi := k*len(batch)/mb, (k+1)*len(batch)/mb
		part := batch[lo:hi]
		ntok := 0
		for _, s := range part {
			ntok += trained(s)
		}
		if ntok == 0 {
			continue
		}
		scale := 1 / float64(ntok)
		var s sums
		u.learner.ZeroGrad()
		err := u.learner.Accumulate(seqs(part), func(i int, out model.Output) model.Grads {
			j := lo + i
			smp := batch[j]
			g := model.Grads{Logp: make([]float32, len(out.Logp))}
			if u.returns != nil {
				g.Value = make([]float32, len(out.Logp))
			}
			var pl, vl, kl, ent, clipped, tok float64
			for t := range out.Logp {
				if smp.Mask[t+1] == 0 {
					continue
				}
				logp := float64(out.Logp[t])
				l, d, c := surrogate(logp, float64(smp.OldLogp[t+1]), u.adv[j][t+1], u.clip)
				pl += l
				if c {
					clipped++
				}
				if ref != nil {
					kv, kd := klK3(logp, float64(ref[j].Logp[t]))
					kl += kv
					d += u.klCoef * kd
				}
				g.Logp[t] = float32(d * scale)
				if u.returns != nil {
					v := float64(out.Value[t])
					loss, dv := valueLoss(v, u.oldValue[j][t+1], u.returns[j][t+1], u.valueClip)
					vl += loss
					g.Value[t] = float32(u.valueCoef * dv * scale)
				}
				if out.Entropy != nil {
					ent += float64(out.Entropy[t])
				}
				tok++
			}
			s.add(pl, vl, kl, ent, clipped, tok)
			return g
		})
		if err != nil {
			return fmt.Errorf("update %d/%d: %w", k+1, mb, err)
		}
		loss := (s.policy + u.klCoef*s.kl + u.valueCoef*s.value) * scale
		norm := u.learner.ClipGradNorm(u.maxGradNorm)
		if !finite(loss) || !finite(norm) {
			return fmt.Errorf("update %d/%d: loss %v, gradient norm %v: %w", k+1, mb, loss, norm, ErrNonFinite)
		}
		u.learner.ApplyGrads(u.lr)
		st.GradNorm = math.Max(st.GradNorm, norm)
		st.Updates++
		total.add(s.policy, s.value, s.kl, s.entropy, s.clipped, s.tok)
	}
	if total.tok > 0 {
		n := total.tok
		st.PolicyLoss, st.ValueLoss, st.KL = total.policy/n, total.value/n, total.kl/n
		st.Entropy, st.ClipFrac = total.entropy/n, total.clipped/n
		st.Loss = st.PolicyLoss + u.klCoef*st.KL + u.valueCoef*st.ValueLoss
		st.Tokens = int(n)
	}
	return nil
}

// fillOldLogp gives samples without sampling log-probabilities those of
// the learner before the update.
func fillOldLogp(l Learner, batch []Sample) error {
	var need []int
	for i, s := range batch {
		if s.OldLogp == nil {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return nil
	}
	ss := make([][]int, len(need))
	for k, i := range need {
		ss[k] = batch[i].Tokens
	}
	outs, err := l.Forward(ss)
	if err != nil {
		return fmt.Errorf("score old log-probs: %w", err)
	}
	for k, i := range need {
		old := make([]float32, len(batch[i].Tokens))
		copy(old[1:], outs[k].Logp)
		batch[i].OldLogp = old
	}
	return nil
}
