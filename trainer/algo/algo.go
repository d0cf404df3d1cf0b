package algo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/retool-rl/retool/trainer/model"
)

// Learner is what the algorithms train. Every gradient they ask for is a
// gradient with respect to per-token log-probabilities (and values), so a
// learner only has to back-propagate those.
type Learner interface {
	// Forward scores sequences without gradients.
	Forward(seqs [][]int) ([]model.Output, error)
	// Accumulate adds the parameter gradients of the loss whose
	// derivatives fn gives; fn may run concurrently for different i.
	Accumulate(seqs [][]int, fn func(i int, out model.Output) model.Grads) error
	ZeroGrad()
	// ClipGradNorm scales the gradients to norm max at most and returns
	// the norm before clipping.
	ClipGradNorm(max float64) float64
	// ApplyGrads takes one optimizer step at learning rate lr.
	ApplyGrads(lr float64)
}

// Trainer is one RL algorithm: a step over a batch of scored trajectories.
type Trainer interface {
	Step(ctx context.Context, batch []Sample) (Stats, error)
}

// Sample is one trajectory as the learner sees it.
type Sample struct {
	// Tokens are the prompt and the response, as the policy saw them.
	Tokens []int
	// Mask is 1 for the tokens the policy generated (trained on) and 0
	// for the prompt and the interpreter's output, per token.
	Mask []float32
	// OldLogp is, per token, the log-probability the sampling policy gave
	// it (0 where Mask is 0). Nil: taken from a forward pass before the
	// update.
	OldLogp []float32
	Reward  float64
	// Group gathers the samples of one prompt (GRPO normalises within it).
	Group int
}

// Stats describe one step; means are over the trained tokens.
type Stats struct {
	Loss       float64 `json:"loss"`
	PolicyLoss float64 `json:"policy_loss"`
	ValueLoss  float64 `json:"value_loss,omitempty"`
	KL         float64 `json:"kl,omitempty"`
	Entropy    float64 `json:"entropy"`
	ClipFrac   float64 `json:"clip_frac"`
	GradNorm   float64 `json:"grad_norm"`
	AdvMean    float64 `json:"adv_mean"`
	AdvStd     float64 `json:"adv_std"`
	Tokens     int     `json:"tokens"`
	Updates    int     `json:"updates"`
}

// ErrNonFinite reports a NaN or infinite loss or gradient: the step was
// not applied, and the caller should stop with its last good checkpoint.
var ErrNonFinite = errors.New("non-finite loss or gradient")

// check validates a batch: masks and log-probabilities the length of the
// tokens, something to train on.
func check(batch []Sample) error {
	if len(batch) == 0 {
		return errors.New("empty batch")
	}
	for i, s := range batch {
		switch {
		case len(s.Tokens) < 2:
			return fmt.Errorf("sample %d: %d tokens; at least 2", i, len(s.Tokens))
		case len(s.Mask) != len(s.Tokens):
			return fmt.Errorf("sample %d: mask of %d for %d tokens", i, len(s.Mask), len(s.Tokens))
		case s.OldLogp != nil && len(s.OldLogp) != len(s.Tokens):
			return fmt.Errorf("sample %d: %d old log-probs for %d tokens", i, len(s.OldLogp), len(s.Tokens))
		case math.IsNaN(s.Reward) || math.IsInf(s.Reward, 0):
			return fmt.Errorf("sample %d: reward %v", i, s.Reward)
		}
	}
	return nil
}

// seqs lists the samples' token sequences.
func seqs(batch []Sample) [][]int {
	out := make([][]int, len(batch))
	for i, s := range batch {
		out[i] = s.Tokens
	}
	return out
}

// trained counts the tokens with a non-zero mask, positions 1 onwards
// (the first token is never predicted).
func trained(s Sample) int {
	n := 0
	for _, m := range s.Mask[1:] {
		if m != 0 {
			n++
		}
	}
	return n
}

// sums collects statistics from concurrent loss callbacks.
type sums struct {
	mu                                       sync.Mutex
	policy, value, kl, entropy, clipped, tok float64
}

func (s *sums) add(policy, value, kl, entropy, clipped, tok float64) {
	s.mu.Lock()
	s.policy += policy
	s.value += value
	s.kl += kl
	s.entropy += entropy
	s.clipped += clipped
	s.tok += tok
	s.mu.Unlock()
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// meanStd of xs (population standard deviation).
func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}
