package recipe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/trainer/algo"
	"github.com/retool-rl/retool/trainer/eval"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/policy"
	"github.com/retool-rl/retool/trainer/rollout"
	"github.com/retool-rl/retool/trainer/tasks"
)

// Runner runs the train job.
type Runner struct {
	Cfg  *config.Train
	Exec rollout.Executor // the orchestrator, with the job's tools running
	// Out receives one line per finished stage; Progress the progress
	// bars (nil: none).
	Out      io.Writer
	Progress io.Writer
}

// Stages of a model, the rows of the final table.
const (
	StageUntrained = "untrained"
	StageColdStart = "cold-start"
	StageRL        = "rl"
)

// Data sets of the evaluations.
const (
	SetHeldout         = tasks.SplitHeldout
	SetHeldoutPhrasing = tasks.SplitHeldoutPhrasing
)

// Results are a run's outcome, written to results.json.
type Results struct {
	Settings *settings             `json:"settings"`
	Traces   map[string]TraceStats `json:"traces"` // by arm
	SFT      map[string]SFTReport  `json:"sft"`    // by arm-seed
	Scores   []Score               `json:"scores"` // final evaluations
	Seconds  float64               `json:"seconds"`
}

// problemSeed fixes the problems, so every arm and seed sees the same ones.
const problemSeed = 20250415

// settings are what must not change when a run resumes.
type settings struct {
	Seeds     int                   `json:"seeds"`
	Arms      []string              `json:"arms"`
	Tasks     config.TrainTasks     `json:"tasks"`
	Model     config.TrainModel     `json:"model"`
	ColdStart config.TrainColdStart `json:"cold_start"`
	RL        config.TrainRL        `json:"rl"`
	Eval      config.TrainEval      `json:"eval"`
}

// data are the generated problem sets.
type data struct {
	cold, pool, heldout, phrasing []tasks.Problem
	kinds                         map[string]string
}

func (r *Runner) logf(format string, args ...any) {
	if r.Out != nil {
		fmt.Fprintf(r.Out, format+"\n", args...)
	}
}

// Run runs (or resumes) the job in Cfg.RunDir.
func (r *Runner) Run(ctx context.Context) (*Results, error) {
	start := time.Now()
	c := r.Cfg
	st := &settings{Seeds: c.Seeds, Arms: c.Arms, Tasks: c.Tasks, Model: c.Model, ColdStart: c.ColdStart, RL: c.RL, Eval: c.Eval}
	if err := r.prepareDir(st); err != nil {
		return nil, err
	}
	mcfg := r.modelConfig()
	if err := mcfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	need := mcfg.MemoryBytes(c.ColdStart.Batch, c.Model.MaxSeq) + mcfg.MemoryBytes(c.RL.Prompts*c.RL.Group, c.Model.MaxSeq)
	if ram := config.MachineRAM(); ram > 0 && need > ram*3/4 {
		return nil, fmt.Errorf("the model (hidden %d, %d layers) needs about %d MiB to train with these batches; this machine has %d MiB: choose a smaller model, batch or max_seq",
			c.Model.Hidden, c.Model.Layers, need>>20, ram>>20)
	}
	d, err := r.problems()
	if err != nil {
		return nil, err
	}
	r.logf("problems: %d for the cold start, %d for RL, %d held out (unseen numbers), %d held out (unseen phrasings)",
		len(d.cold), len(d.pool), len(d.heldout), len(d.phrasing))
	res := &Results{Settings: st, Traces: map[string]TraceStats{}, SFT: map[string]SFTReport{}}
	traces := map[string][]tasks.Trace{}
	for _, arm := range c.Arms {
		tr, ts, err := r.traces(ctx, arm, d.cold)
		if err != nil {
			return nil, err
		}
		traces[arm], res.Traces[arm] = tr, ts
	}
	for seed := 1; seed <= c.Seeds; seed++ {
		sc, err := r.untrained(ctx, mcfg, seed, d)
		if err != nil {
			return nil, err
		}
		res.Scores = append(res.Scores, sc...)
		for _, arm := range c.Arms {
			out, err := r.arm(ctx, mcfg, arm, seed, d, traces[arm])
			if err != nil {
				return nil, fmt.Errorf("%s arm, seed %d: %w", arm, seed, err)
			}
			res.SFT[fmt.Sprintf("%s-seed%d", arm, seed)] = out.sft
			res.Scores = append(res.Scores, out.scores...)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if err := writeJSON(filepath.Join(c.RunDir, "results.json"), res); err != nil {
		return nil, fmt.Errorf("write results: %w", err)
	}
	if err := writeReport(c.RunDir, res); err != nil {
		return nil, fmt.Errorf("write report: %w", err)
	}
	return res, nil
}

// prepareDir creates the run directory, or checks that the run it holds
// was started with the same settings (it is then resumed).
func (r *Runner) prepareDir(st *settings) error {
	dir := r.Cfg.RunDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	path := filepath.Join(dir, "settings.json")
	var old settings
	switch err := readJSON(path, &old); {
	case errors.Is(err, os.ErrNotExist):
		return writeJSON(path, st)
	case err != nil:
		return fmt.Errorf("run directory %s: %w", dir, err)
	}
	// More RL steps (or other evaluation and checkpoint intervals) extend
	// a run; anything else would mix two experiments in one directory.
	cur := *st
	cur.RL.Steps, cur.RL.EvalEvery, cur.RL.CheckpointEvery = old.RL.Steps, old.RL.EvalEvery, old.RL.CheckpointEvery
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(cur)
	if string(a) != string(b) {
		return fmt.Errorf("run directory %s holds a run with other settings (%s); resume it with the same settings (only rl.steps may grow), or choose another run_dir", dir, path)
	}
	r.logf("resuming the run in %s", dir)
	return writeJSON(path, st)
}

func (r *Runner) modelConfig() model.Config {
	m := r.Cfg.Model
	return model.Config{
		VocabSize: model.VocabSize, HiddenSize: m.Hidden, IntermediateSize: m.Intermediate,
		NumHiddenLayers: m.Layers, NumAttentionHeads: m.Heads, NumKeyValueHeads: m.Heads,
		MaxPositionEmbeddings: m.MaxSeq, ValueHead: r.Cfg.RL.Algorithm == "ppo",
	}.Normalize()
}

// problems generates the sets; the same settings give the same problems.
func (r *Runner) problems() (*data, error) {
	t := r.Cfg.Tasks
	gen := func(seed int64, split string) (*tasks.Generator, error) {
		g, err := tasks.NewGenerator(seed, tasks.Options{Families: t.Families, Split: split})
		if err != nil {
			return nil, fmt.Errorf("tasks: %w", err)
		}
		return g, nil
	}
	g, err := gen(problemSeed, tasks.SplitTrain)
	if err != nil {
		return nil, err
	}
	d := &data{cold: g.Generate(t.ColdStart), pool: g.Generate(t.RLPool)}
	if g, err = gen(problemSeed+1, tasks.SplitHeldout); err != nil {
		return nil, err
	}
	d.heldout = g.Generate(t.HeldOut)
	if t.HeldOutPhrasing > 0 {
		if g, err = gen(problemSeed+2, tasks.SplitHeldoutPhrasing); err != nil {
			return nil, err
		}
		d.phrasing = g.Generate(t.HeldOutPhrasing)
	}
	if len(d.cold) < 10 || len(d.pool) == 0 || len(d.heldout) == 0 {
		return nil, fmt.Errorf("tasks: the families %v yield too few problems (%d cold start, %d RL, %d held out)", t.Families, len(d.cold), len(d.pool), len(d.heldout))
	}
	d.kinds = kindsOf(d.cold, d.pool, d.heldout, d.phrasing)
	return d, nil
}

// Problems returns the held-out problems of the job's tasks settings
// (split tasks.SplitHeldout or tasks.SplitHeldoutPhrasing), the same a
// run evaluates on, for retool eval.
func Problems(t config.TrainTasks, split string) ([]tasks.Problem, error) {
	r := &Runner{Cfg: &config.Train{Tasks: t}}
	d, err := r.problems()
	if err != nil {
		return nil, err
	}
	switch split {
	case tasks.SplitHeldout:
		return d.heldout, nil
	case tasks.SplitHeldoutPhrasing:
		return d.phrasing, nil
	}
	return nil, fmt.Errorf("no held-out split %q (expected %s or %s)", split, tasks.SplitHeldout, tasks.SplitHeldoutPhrasing)
}

// traces makes the arm's cold-start traces: for ReTool, code-integrated
// ones whose outputs come from the sandbox; for the text arm, text only.
func (r *Runner) traces(ctx context.Context, arm string, probs []tasks.Problem) ([]tasks.Trace, TraceStats, error) {
	cs := r.Cfg.ColdStart
	if arm == "text" {
		tr := tasks.TextOnly(probs, problemSeed)
		st := TraceStats{Made: len(tr), Kept: len(tr), Styles: map[string]int{tasks.StyleText: len(tr)}}
		return tr, st, nil
	}
	mix := tasks.DefaultMix
	mix.Code, mix.Text, mix.Fix, mix.Sympy = cs.Code, cs.Text, cs.Fix, cs.Sympy
	tr := tasks.ColdStart(probs, mix, problemSeed)
	// The traces depend only on the settings, which a resumed run shares:
	// their outputs are kept rather than run again.
	cache := filepath.Join(r.Cfg.RunDir, "traces-"+arm+".json")
	var cached struct {
		Traces []tasks.Trace `json:"traces"`
		Stats  TraceStats    `json:"stats"`
	}
	if err := readJSON(cache, &cached); err == nil && len(cached.Traces) > 0 {
		return cached.Traces, cached.Stats, nil
	}
	bar := r.bar(len(tr), "cold-start traces: running their code in the sandbox")
	t0 := time.Now()
	kept, st, err := runTraces(ctx, toolset{r.Exec, r.Cfg.RL.Tools}, tr, 16, func() { _ = bar.Add(1) })
	_ = bar.Finish()
	if err != nil {
		return nil, st, fmt.Errorf("cold-start traces: %w", err)
	}
	r.logf("cold-start traces: %d made, %d kept (%d whose real output disagreed); styles: %s; code blocks: %s; in %.1fs",
		st.Made, st.Kept, st.Dropped, counts(st.Styles), counts(st.Langs), time.Since(t0).Seconds())
	cached.Traces, cached.Stats = kept, st
	if err := writeJSON(cache, cached); err != nil {
		return nil, st, fmt.Errorf("cold-start traces: %w", err)
	}
	return kept, st, nil
}

func (r *Runner) bar(n int, desc string) *progressbar.ProgressBar {
	w := r.Progress
	if w == nil {
		w = io.Discard
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true))
}

// evaluate scores m on the held-out sets with the arm's tools.
func (r *Runner) evaluate(ctx context.Context, m *model.Model, arm string, seed int, stage string, step int, d *data) ([]Score, []eval.Record, error) {
	e := r.Cfg.Eval
	exec := toolset{r.Exec, r.Cfg.RL.Tools}
	if arm == "text" {
		exec = toolset{r.Exec, nil}
	}
	tok := m.Tokenizer()
	pol, err := policy.NewEmbedded(m)
	if err != nil {
		return nil, nil, err
	}
	defer pol.Close()
	var out []Score
	var all []eval.Record
	for _, set := range []struct {
		name  string
		probs []tasks.Problem
	}{{SetHeldout, d.heldout}, {SetHeldoutPhrasing, d.phrasing}} {
		if len(set.probs) == 0 {
			continue
		}
		recs, err := rollouts(ctx, pol, exec, tok.Encode, set.probs, sampling{
			n: e.Samples, temperature: e.Temperature, topP: e.TopP,
			maxToolCalls: r.Cfg.RL.MaxToolCalls, maxTokens: r.Cfg.RL.MaxTokens,
		}, set.name)
		if err != nil {
			return nil, nil, fmt.Errorf("evaluate %s on %s: %w", stage, set.name, err)
		}
		s := score(recs, d.kinds)
		s.Stage, s.Arm, s.Seed, s.Step, s.Dataset = stage, arm, seed, step, set.name
		out = append(out, s)
		all = append(all, recs...)
	}
	return out, all, nil
}

// untrained scores a freshly initialised model (with the tools on), the
// first row of the table; cached in the run directory.
func (r *Runner) untrained(ctx context.Context, mcfg model.Config, seed int, d *data) ([]Score, error) {
	path := filepath.Join(r.Cfg.RunDir, fmt.Sprintf("untrained-seed%d.json", seed))
	var sc []Score
	if err := readJSON(path, &sc); err == nil {
		return sc, nil
	}
	m, err := model.New(mcfg, uint64(seed))
	if err != nil {
		return nil, err
	}
	sc, _, err = r.evaluate(ctx, m, "retool", seed, StageUntrained, 0, d)
	if err != nil {
		return nil, err
	}
	for i := range sc {
		sc[i].Arm = ""
	}
	r.logf("seed %d: untrained model (%d parameters): held-out accuracy %.1f%%", seed, m.NumParams(), 100*sc[0].Accuracy)
	return sc, writeJSON(path, sc)
}

// armResult is what one arm and seed produced.
type armResult struct {
	sft    SFTReport
	scores []Score
}

// arm runs (or resumes) the cold start, RL and evaluations of one arm
// and seed in RunDir/ARM-seedN.
func (r *Runner) arm(ctx context.Context, mcfg model.Config, arm string, seed int, d *data, traces []tasks.Trace) (armResult, error) {
	var res armResult
	dir := filepath.Join(r.Cfg.RunDir, fmt.Sprintf("%s-seed%d", arm, seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	name := fmt.Sprintf("seed %d %s", seed, arm)
	done := filepath.Join(dir, "done.json")
	if err := readJSON(done, &res); err == nil {
		if finished(res.scores) >= r.Cfg.RL.Steps {
			r.logf("%s: done earlier", name)
			return res, nil
		}
		res = armResult{} // more RL steps asked for: go on from the checkpoint
	}

	// Cold start.
	csDir := filepath.Join(dir, "cold-start")
	csDone := filepath.Join(dir, "cold-start.json")
	var cs struct {
		SFT    SFTReport `json:"sft"`
		Scores []Score   `json:"scores"`
	}
	if err := readJSON(csDone, &cs); err != nil {
		m, err := model.New(mcfg, uint64(seed))
		if err != nil {
			return res, err
		}
		opt, err := model.NewAdamW(m, model.AdamWConfig{LR: r.Cfg.ColdStart.LR, WeightDecay: 0.01})
		if err != nil {
			return res, err
		}
		samples, tooLong := traceSamples(m.Tokenizer(), traces, r.Cfg.Model.MaxSeq)
		if len(samples) < 10 {
			return res, fmt.Errorf("cold start: only %d traces fit max_seq %d", len(samples), r.Cfg.Model.MaxSeq)
		}
		nval := max(1, len(samples)/10)
		val := make([]algo.Sample, nval)
		for i, s := range samples[:nval] {
			val[i] = s.Sample
		}
		train := samples[nval:]
		cs.SFT.Traces = TraceStats{Made: len(traces), Kept: len(samples)}
		cs.SFT.TrainTraces, cs.SFT.ValTraces = len(train), len(val)
		if tooLong > 0 {
			r.logf("%s: %d traces longer than max_seq %d left out", name, tooLong, r.Cfg.Model.MaxSeq)
		}
		o := r.Cfg.ColdStart
		bar := r.bar(-1, name+": cold start")
		err = sft(ctx, m, opt, train, val, sftOptions{
			batch: o.Batch, maxEpochs: o.MaxEpochs, patience: o.Patience, lr: o.LR, seed: uint64(seed), codeFirst: o.CodeFirstEpochs,
			progress: func(step, total int, loss float64) {
				bar.Describe(fmt.Sprintf("%s: cold start, loss %.3f", name, loss))
				_ = bar.Add(1)
			},
		}, csDir, &cs.SFT)
		_ = bar.Finish()
		if err != nil {
			return res, err
		}
		if m, err = model.Load(csDir); err != nil {
			return res, fmt.Errorf("cold start: %w", err)
		}
		stopped := "max_epochs reached before the held-out loss stopped improving"
		if cs.SFT.Converged {
			stopped = "stopped: the held-out loss stopped improving"
		}
		r.logf("%s: cold start on %d traces (%d held out): %d steps (%.1f epochs), best held-out loss %.4f at step %d (%s), %.0f tokens/s, %.0fs",
			name, len(train), len(val), cs.SFT.Steps, cs.SFT.Epochs, cs.SFT.BestValLoss, cs.SFT.BestStep, stopped, cs.SFT.TokensPS, cs.SFT.Seconds)
		if cs.Scores, _, err = r.evaluate(ctx, m, arm, seed, StageColdStart, 0, d); err != nil {
			return res, err
		}
		r.logf("%s: cold-start model: held-out accuracy %.1f%%, code ratio %.2f", name, 100*cs.Scores[0].Accuracy, cs.Scores[0].CodeRatio)
		if err := writeJSON(csDone, cs); err != nil {
			return res, err
		}
	}
	res.sft = cs.SFT
	res.scores = append(res.scores, cs.Scores...)

	// RL.
	ckpt := filepath.Join(dir, "rl")
	adam := model.AdamWConfig{LR: r.Cfg.RL.LR}
	m, opt, state, ok, err := loadCheckpoint(ckpt, adam)
	if err != nil {
		return res, err
	}
	if !ok {
		if m, err = model.Load(csDir); err != nil {
			return res, fmt.Errorf("start RL: %w", err)
		}
		if opt, err = model.NewAdamW(m, adam); err != nil {
			return res, err
		}
	} else {
		r.logf("%s: resuming RL after step %d", name, state.Step)
	}
	metricsPath := filepath.Join(dir, "metrics.jsonl")
	evalsPath := filepath.Join(dir, "evals.jsonl")
	if err := truncateSteps(metricsPath, state.Step); err != nil {
		return res, err
	}
	if err := truncateSteps(evalsPath, state.Step); err != nil {
		return res, err
	}
	tools := r.Cfg.RL.Tools
	if arm == "text" {
		tools = nil
	}
	bar := r.bar(r.Cfg.RL.Steps, name+": RL")
	_ = bar.Set(state.Step)
	m, err = runRL(ctx, m, opt, state.Step, rlOptions{
		cfg: r.Cfg.RL, arm: arm, seed: seed, pool: d.pool, kinds: d.kinds,
		exec: toolset{r.Exec, tools}, ckpt: ckpt,
		onStep: func(sm StepMetrics) error {
			bar.Describe(fmt.Sprintf("%s: RL, reward %+.2f, code %.2f", name, sm.Reward, sm.CodeRatio))
			_ = bar.Add(1)
			return appendJSONL(metricsPath, sm)
		},
		onEval: func(ctx context.Context, m *model.Model, step int) error {
			sc, _, err := r.evaluate(ctx, m, arm, seed, StageRL, step, d)
			if err != nil {
				return err
			}
			for _, s := range sc {
				if err := appendJSONL(evalsPath, s); err != nil {
					return err
				}
			}
			return nil
		},
	})
	_ = bar.Finish()
	if err != nil {
		return res, err
	}
	final, recs, err := r.evaluate(ctx, m, arm, seed, StageRL, r.Cfg.RL.Steps, d)
	if err != nil {
		return res, err
	}
	for _, s := range final {
		if err := appendJSONL(evalsPath, s); err != nil {
			return res, err
		}
	}
	if err := writeSample(filepath.Join(dir, "trajectories.jsonl"), recs, 40); err != nil {
		return res, err
	}
	r.logf("%s: after %d RL steps: held-out accuracy %.1f%%, code ratio %.2f", name, r.Cfg.RL.Steps, 100*final[0].Accuracy, final[0].CodeRatio)
	res.scores = append(res.scores, final...)
	return res, writeJSON(done, res)
}

// MarshalJSON and UnmarshalJSON let done.json hold an armResult.
func (a armResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		SFT    SFTReport `json:"sft"`
		Scores []Score   `json:"scores"`
	}{a.sft, a.scores})
}

func (a *armResult) UnmarshalJSON(b []byte) error {
	var v struct {
		SFT    SFTReport `json:"sft"`
		Scores []Score   `json:"scores"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	a.sft, a.scores = v.SFT, v.Scores
	return nil
}

// writeSample writes the first n records, a sample of trajectories.
func writeSample(path string, recs []eval.Record, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range recs[:min(n, len(recs))] {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// appendJSONL appends v as one line.
func appendJSONL(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// truncateSteps drops the lines of a resumed run's JSONL file that come
// after its checkpoint's step (they will be redone), and a torn last line.
func truncateSteps(path string, step int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		var v struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(line, &v) != nil || v.Step == nil || *v.Step > step {
			continue
		}
		keep = append(append(keep, line...), '\n')
	}
	return os.WriteFile(path, keep, 0o644)
}

// finished is the RL step of the final evaluation among scores.
func finished(scores []Score) int {
	n := -1
	for _, s := range scores {
		if s.Stage == StageRL {
			n = max(n, s.Step)
		}
	}
	return n
}
