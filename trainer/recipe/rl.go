package recipe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/trainer/algo"
	"github.com/retool-rl/retool/trainer/eval"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/policy"
	"github.com/retool-rl/retool/trainer/rollout"
	"github.com/retool-rl/retool/trainer/tasks"
)

// StepMetrics is one line of metrics.jsonl: an RL step's rollouts (the
// paper's analysis metrics on the training samples) and its update.
type StepMetrics struct {
	Arm    string  `json:"arm"`
	Seed   int     `json:"seed"`
	Step   int     `json:"step"`
	Reward float64 `json:"reward"`
	Score
	Update         algo.Stats `json:"update"`
	Trained        int        `json:"trained_samples"`
	RolloutSeconds float64    `json:"rollout_seconds"`
	TrainSeconds   float64    `json:"train_seconds"`
	SampledTokens  int        `json:"sampled_tokens"`
}

// rlOptions configure one RL run.
type rlOptions struct {
	cfg   config.TrainRL
	arm   string
	seed  int
	pool  []tasks.Problem
	kinds map[string]string
	exec  rollout.Executor
	// ckpt is the checkpoint directory.
	ckpt string
	// onStep receives each step's metrics (to append to metrics.jsonl).
	onStep func(StepMetrics) error
	// onEval evaluates the model every cfg.EvalEvery steps.
	onEval func(ctx context.Context, m *model.Model, step int) error
}

// newTrainer builds the job's algorithm over l.
func newTrainer(cfg config.TrainRL, l algo.Learner, ref algo.Learner) (algo.Trainer, error) {
	clip := algo.Clip{Low: cfg.ClipLow, High: cfg.ClipHigh}
	switch cfg.Algorithm {
	case "grpo":
		return &algo.GRPO{Learner: l, Ref: ref, KLCoef: cfg.KLCoef, Clip: clip, LR: cfg.LR}, nil
	case "ppo":
		return &algo.PPO{Learner: l, Ref: ref, KLCoef: cfg.KLCoef, Clip: clip, LR: cfg.LR}, nil
	}
	return nil, fmt.Errorf("unknown RL algorithm %q", cfg.Algorithm)
}

// runRL trains m from step start (a resumed run) to cfg.Steps.
func runRL(ctx context.Context, m *model.Model, opt *model.AdamW, start int, o rlOptions) (*model.Model, error) {
	var ref algo.Learner
	if o.cfg.KLCoef > 0 {
		ref = algo.ModelLearner{Model: m.Clone()}
	}
	l := algo.ModelLearner{Model: m, Opt: opt}
	tr, err := newTrainer(o.cfg, l, ref)
	if err != nil {
		return nil, err
	}
	tok := m.Tokenizer()
	pol, err := policy.NewEmbedded(m)
	if err != nil {
		return nil, err
	}
	defer pol.Close()
	lastGood := start
	for step := start + 1; step <= o.cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		rng := rand.New(rand.NewPCG(uint64(o.seed), uint64(step)))
		probs := make([]tasks.Problem, o.cfg.Prompts)
		for i, j := range rng.Perm(len(o.pool))[:min(o.cfg.Prompts, len(o.pool))] {
			probs[i] = o.pool[j]
		}
		probs = probs[:min(o.cfg.Prompts, len(o.pool))]
		t0 := time.Now()
		recs, err := rollouts(ctx, pol, o.exec, tok.Encode, probs, sampling{
			n: o.cfg.Group, temperature: o.cfg.Temperature, topP: o.cfg.TopP,
			maxToolCalls: o.cfg.MaxToolCalls, maxTokens: o.cfg.MaxTokens, logprobs: true,
		}, "train")
		if err != nil {
			return m, fmt.Errorf("rl step %d: rollouts: %w", step, err)
		}
		rollSec := time.Since(t0).Seconds()
		batch, sampled, err := batchOf(tok, recs, o.cfg.Group, m.Config().MaxPositionEmbeddings)
		if err != nil {
			return m, fmt.Errorf("rl step %d: %w", step, err)
		}
		sm := StepMetrics{Arm: o.arm, Seed: o.seed, Step: step, Score: score(recs, o.kinds),
			RolloutSeconds: rollSec, SampledTokens: sampled, Trained: len(batch)}
		for _, r := range recs {
			sm.Reward += r.Grade.Reward
		}
		sm.Reward /= float64(max(1, len(recs)))
		if len(batch) > 0 {
			t1 := time.Now()
			st, err := tr.Step(ctx, batch)
			if errors.Is(err, algo.ErrNonFinite) {
				return m, fmt.Errorf("rl step %d: %w; stopped, the last good checkpoint (step %d) is kept in %s", step, err, lastGood, o.ckpt)
			}
			if err != nil {
				return m, fmt.Errorf("rl step %d: %w", step, err)
			}
			sm.Update, sm.TrainSeconds = st, time.Since(t1).Seconds()
		}
		if o.onStep != nil {
			if err := o.onStep(sm); err != nil {
				return m, err
			}
		}
		if step%o.cfg.CheckpointEvery == 0 || step == o.cfg.Steps {
			if err := saveCheckpoint(o.ckpt, m, opt, ckptState{Step: step}); err != nil {
				return m, err
			}
			lastGood = step
		}
		if o.onEval != nil && o.cfg.EvalEvery > 0 && step%o.cfg.EvalEvery == 0 && step != o.cfg.Steps {
			if err := o.onEval(ctx, m, step); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}

// batchOf turns graded records into the learner's batch; samples of one
// prompt share a group. Trajectories cut short by the infrastructure are
// left out; one longer than the model's context (the last tool output
// can overflow it) is cut to it.
func batchOf(tok *model.Tokenizer, recs []eval.Record, group, maxSeq int) ([]algo.Sample, int, error) {
	var batch []algo.Sample
	sampled := 0
	for i, r := range recs {
		if isInfraError(r.Trajectory) {
			continue
		}
		s, err := trajectorySample(tok, r.Trajectory, toolStop)
		if err != nil {
			return nil, 0, fmt.Errorf("trajectory %s/%d: %w", r.Problem, r.Trajectory.Sample, err)
		}
		s.Reward, s.Group = r.Grade.Reward, i/group
		if len(s.Tokens) > maxSeq {
			s.Tokens, s.Mask, s.OldLogp = s.Tokens[:maxSeq], s.Mask[:maxSeq], s.OldLogp[:maxSeq]
		}
		for _, mk := range s.Mask {
			sampled += int(mk)
		}
		batch = append(batch, s)
	}
	return batch, sampled, nil
}
