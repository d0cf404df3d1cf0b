package recipe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/trainer/algo"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/rollout"
	"github.com/retool-rl/retool/trainer/tasks"
)

// TraceStats describe the cold-start traces kept.
type TraceStats struct {
	Made    int            `json:"made"`
	Kept    int            `json:"kept"`
	Dropped int            `json:"dropped"` // real output disagreed with the answer, or a fix that did not fail first
	Styles  map[string]int `json:"styles"`
	Langs   map[string]int `json:"langs"` // code blocks per language
	Tokens  int            `json:"tokens"`
}

// runTraces runs every code block of traces in the sandbox (concurrency
// at a time) and fills in the output the rollout engine would show; it
// then keeps the traces that grade correct. tick is called per trace.
func runTraces(ctx context.Context, exec rollout.Executor, traces []tasks.Trace, concurrency int, tick func()) ([]tasks.Trace, TraceStats, error) {
	st := TraceStats{Made: len(traces), Styles: map[string]int{}, Langs: map[string]int{}}
	shown := rollout.Options{ToolTimeout: toolTimeout, TruncateHead: truncate, TruncateTail: truncate}
	var (
		wg       sync.WaitGroup
		slots    = make(chan struct{}, max(1, concurrency))
		firstErr atomic.Pointer[error]
	)
	for i := range traces {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || firstErr.Load() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer tick()
			for _, b := range traces[i].Blocks() {
				res, err := exec.Execute(ctx, &execution.Request{
					Language: b.Lang, Code: b.Code,
					Limits: execution.Limits{WallTime: toolTimeout, CPUTime: toolTimeout},
				})
				if err != nil {
					err = fmt.Errorf("run the %s code of trace %s: %w", b.Lang, traces[i].Problem.ID, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				if b.Output, err = shown.Shown(res); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return nil, st, *p
	}
	if err := ctx.Err(); err != nil {
		return nil, st, err
	}
	var kept []tasks.Trace
	for _, t := range traces {
		if !t.Check() {
			st.Dropped++
			continue
		}
		kept = append(kept, t)
		st.Styles[t.Style]++
		for _, b := range t.Blocks() {
			st.Langs[b.Lang]++
		}
	}
	st.Kept = len(kept)
	if len(kept) == 0 {
		return nil, st, errors.New("no cold-start trace graded correct: the sandbox's outputs disagree with every answer")
	}
	return kept, st, nil
}

// traceSample is a tokenised trace; code says whether it calls a tool.
type traceSample struct {
	algo.Sample
	code bool
}

// traceSamples tokenises traces for SFT.
func traceSamples(tok *model.Tokenizer, traces []tasks.Trace, maxSeq int) ([]traceSample, int) {
	var out []traceSample
	tooLong := 0
	for _, t := range traces {
		resp, spans := t.Render()
		sp := make([]span, len(spans))
		for i, s := range spans {
			sp[i] = span{s.Start, s.End}
		}
		toks, mask := textSample(tok, t.Prompt(), resp, sp, toolStop)
		if len(toks) > maxSeq {
			tooLong++
			continue
		}
		out = append(out, traceSample{algo.Sample{Tokens: toks, Mask: mask}, len(t.Blocks()) > 0})
	}
	return out, tooLong
}

// SFTReport is what the cold start did.
type SFTReport struct {
	Traces      TraceStats `json:"traces"`
	TrainTraces int        `json:"train_traces"`
	ValTraces   int        `json:"val_traces"`
	Epochs      float64    `json:"epochs"`
	Steps       int        `json:"steps"`
	BestValLoss float64    `json:"best_val_loss"`
	BestStep    int        `json:"best_step"`
	// ValLoss is the held-out loss at each evaluation, for the report.
	ValLoss   []float64 `json:"val_loss"`
	TrainLoss []float64 `json:"train_loss"`
	Seconds   float64   `json:"seconds"`
	TokensPS  float64   `json:"train_tokens_per_second"`
	// Converged is true when training stopped because the held-out loss
	// stopped improving, false when max_epochs ran out first.
	Converged bool `json:"converged"`
	// CodeFirstEpochs were the curriculum's code-only epochs.
	CodeFirstEpochs int `json:"code_first_epochs"`
}

// sftOptions configure supervised training.
type sftOptions struct {
	batch, maxEpochs, patience int
	// codeFirst is the number of first epochs that see only traces that
	// call a tool.
	codeFirst int
	lr        float64
	// evalEvery is the number of steps between held-out evaluations
	// (default: a quarter of an epoch).
	evalEvery int
	seed      uint64
	progress  func(step, total int, loss float64)
}

// sft trains m on train until the held-out loss on val has not improved
// for patience evaluations (or maxEpochs pass), saving the model at its
// best evaluation to bestDir: the cold start is trained to convergence,
// so that what RL adds is not an under-trained start's.
func sft(ctx context.Context, m *model.Model, opt *model.AdamW, train []traceSample, val []algo.Sample, o sftOptions, bestDir string, rep *SFTReport) error {
	l := algo.ModelLearner{Model: m, Opt: opt}
	s := &algo.SFT{Learner: l}
	rng := rand.New(rand.NewPCG(o.seed, 0x5f7))
	var code []int
	for i, t := range train {
		if t.code {
			code = append(code, i)
		}
	}
	codeFirst := o.codeFirst
	if len(code) == 0 {
		codeFirst = 0
	}
	// The step budget: code-only epochs, then full ones.
	perEpoch := func(n int) int { return (n + o.batch - 1) / o.batch }
	total := codeFirst*perEpoch(len(code)) + (o.maxEpochs-codeFirst)*perEpoch(len(train))
	every := o.evalEvery
	if every <= 0 {
		every = max(1, perEpoch(len(train))/4)
	}
	best, bad := math.Inf(1), 0
	start := time.Now()
	tokens, step, epoch := 0, 0, 0
	var runLoss float64
	var order []int
	seen := 0.0
	for step < total {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(order) == 0 {
			pool := code
			if epoch >= codeFirst {
				pool = nil
				for i := range train {
					pool = append(pool, i)
				}
			}
			order = slices.Clone(pool)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			epoch++
		}
		n := min(o.batch, len(order))
		batch := make([]algo.Sample, n)
		for k, j := range order[:n] {
			batch[k] = train[j].Sample
		}
		order = order[n:]
		seen += float64(n) / float64(len(train))
		// Cosine decay to a tenth over the step budget, after a short warm-up.
		lr := o.lr * schedule(step, total)
		st, err := s.Step(ctx, batch, lr)
		if err != nil {
			return fmt.Errorf("cold start step %d: %w", step+1, err)
		}
		tokens += st.Tokens
		runLoss = 0.9*runLoss + 0.1*st.Loss
		if step == 0 {
			runLoss = st.Loss
		}
		step++
		if o.progress != nil {
			o.progress(step, total, runLoss)
		}
		// The held-out loss is watched once the curriculum is over (before,
		// it judges a model that has not seen text traces yet).
		if epoch > codeFirst && (step%every == 0 || step == total) {
			vl, err := algo.NLL(l, val)
			if err != nil {
				return fmt.Errorf("cold start held-out loss: %w", err)
			}
			rep.ValLoss = append(rep.ValLoss, vl)
			rep.TrainLoss = append(rep.TrainLoss, runLoss)
			// An improvement under 0.5% counts as none: a loss creeping
			// down by rounding is a loss that stopped improving.
			if vl < best*(1-minImprovement) {
				best, bad = vl, 0
				if err := m.Save(bestDir); err != nil {
					return fmt.Errorf("cold start: %w", err)
				}
				rep.BestStep = step
			} else if bad++; bad >= o.patience {
				break
			}
		}
	}
	rep.Steps, rep.BestValLoss = step, best
	rep.Converged = step < total
	rep.Epochs = seen
	rep.CodeFirstEpochs = codeFirst
	rep.Seconds = time.Since(start).Seconds()
	rep.TokensPS = float64(tokens) / rep.Seconds
	return nil
}

// minImprovement is the relative drop of the held-out loss that counts
// as an improvement for early stopping.
const minImprovement = 0.005

// schedule is the learning-rate multiplier at step of total: linear
// warm-up over the first 5%, then cosine decay to 0.1.
func schedule(step, total int) float64 {
	warm := max(1, total/20)
	if step < warm {
		return float64(step+1) / float64(warm)
	}
	p := float64(step-warm) / float64(max(1, total-warm))
	return 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*p))
}
