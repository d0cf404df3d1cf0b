package recipe

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Row names of the final table, in order.
var tableRows = []struct{ stage, arm, name string }{
	{StageUntrained, "", "untrained model"},
	{StageColdStart, "text", "cold start, text only"},
	{StageColdStart, "retool", "cold start, code-integrated"},
	{StageRL, "text", "text-only RL"},
	{StageRL, "retool", "ReTool RL (tools)"},
}

// meanSD is the mean and sample standard deviation.
func meanSD(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	if len(xs) < 2 {
		return m, 0
	}
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)-1))
}

// finals picks, per (stage, arm, dataset), the final scores of each seed.
func finals(scores []Score, stage, arm, dataset string, steps int) []Score {
	var out []Score
	for _, s := range scores {
		if s.Stage == stage && s.Arm == arm && s.Dataset == dataset && (stage != StageRL || s.Step == steps) {
			out = append(out, s)
		}
	}
	return out
}

func pm(xs []float64, pct bool) string {
	m, sd := meanSD(xs)
	if math.IsNaN(m) {
		return "–"
	}
	if pct {
		return fmt.Sprintf("%.1f ± %.1f", 100*m, 100*sd)
	}
	return fmt.Sprintf("%.2f ± %.2f", m, sd)
}

func collect(ss []Score, f func(Score) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// Table renders the final comparison as markdown.
func Table(res *Results) string {
	var b strings.Builder
	steps := res.Settings.RL.Steps
	fmt.Fprintf(&b, "| model | held-out acc. %% | unseen phrasing acc. %% | tool problems %% | symbolic %% | text %% | code ratio | code position | response tokens |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range tableRows {
		if row.arm != "" && !slices.Contains(res.Settings.Arms, row.arm) {
			continue
		}
		h := finals(res.Scores, row.stage, row.arm, SetHeldout, steps)
		p := finals(res.Scores, row.stage, row.arm, SetHeldoutPhrasing, steps)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.name,
			pm(collect(h, func(s Score) float64 { return s.Accuracy }), true),
			pm(collect(p, func(s Score) float64 { return s.Accuracy }), true),
			pm(collect(h, func(s Score) float64 { return s.ByKind["tool"] }), true),
			pm(collect(h, func(s Score) float64 { return s.ByKind["symbolic"] }), true),
			pm(collect(h, func(s Score) float64 { return s.ByKind["text"] }), true),
			pm(collect(h, func(s Score) float64 { return s.CodeRatio }), false),
			pm(collect(h, func(s Score) float64 { return s.CodePosition }), false),
			pm(collect(h, func(s Score) float64 { return s.ResponseTokens }), false))
	}
	fmt.Fprintf(&b, "\nMean ± standard deviation over %d seed(s); accuracy is pass@1 (avg@%d) at temperature %g, top-p %g.\n",
		res.Settings.Seeds, res.Settings.Eval.Samples, res.Settings.Eval.Temperature, res.Settings.Eval.TopP)
	return b.String()
}

// series are per-step values of one arm, one slice per seed.
type series map[string]map[int][]float64 // arm → step → values over seeds

func (s series) add(arm string, step int, v float64) {
	if s[arm] == nil {
		s[arm] = map[int][]float64{}
	}
	s[arm][step] = append(s[arm][step], v)
}

// readLines decodes a JSONL file into values of T (a missing file is
// empty; torn lines are skipped).
func readLines[T any](path string) []T {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var v T
		if json.Unmarshal(sc.Bytes(), &v) == nil {
			out = append(out, v)
		}
	}
	return out
}

// plotSpec is one per-step plot.
type plotSpec struct {
	file, title, ylabel string
	s                   series
}

// writeReport writes report.md and its PNG plots into dir.
func writeReport(dir string, res *Results) error {
	st := res.Settings
	metric := map[string]series{}
	get := func(name string) series {
		if metric[name] == nil {
			metric[name] = series{}
		}
		return metric[name]
	}
	for _, arm := range st.Arms {
		for seed := 1; seed <= st.Seeds; seed++ {
			sub := filepath.Join(dir, fmt.Sprintf("%s-seed%d", arm, seed))
			for _, m := range readLines[StepMetrics](filepath.Join(sub, "metrics.jsonl")) {
				get("reward").add(arm, m.Step, m.Reward)
				get("train_acc").add(arm, m.Step, m.Accuracy)
				get("code_ratio").add(arm, m.Step, m.CodeRatio)
				get("length").add(arm, m.Step, m.ResponseTokens)
				get("position").add(arm, m.Step, m.CodePosition)
				get("lines").add(arm, m.Step, m.CodeLines)
				get("selfcorr").add(arm, m.Step, float64(m.SelfCorrections))
				if arm == "retool" {
					get("tools").add("python", m.Step, m.Tools["python"])
					get("tools").add("sympy", m.Step, m.Tools["sympy"])
					get("tools").add("none", m.Step, 1-m.CodeRatio)
				}
			}
			// Held-out accuracy along RL: the cold start at step 0, then
			// the evaluations during and after RL.
			for _, s := range res.Scores {
				if s.Arm == arm && s.Seed == seed && s.Dataset == SetHeldout && s.Stage == StageColdStart {
					get("heldout").add(arm, 0, s.Accuracy)
					get("heldout_code").add(arm, 0, s.CodeRatio)
				}
			}
			for _, s := range readLines[Score](filepath.Join(sub, "evals.jsonl")) {
				if s.Dataset == SetHeldout {
					get("heldout").add(arm, s.Step, s.Accuracy)
					get("heldout_code").add(arm, s.Step, s.CodeRatio)
				}
			}
		}
	}
	plots := []plotSpec{
		{"reward.png", "Training reward per RL step", "mean reward (±1)", get("reward")},
		{"train_accuracy.png", "Training accuracy per RL step", "share correct", get("train_acc")},
		{"heldout_accuracy.png", "Held-out accuracy during RL (step 0: cold start)", "pass@1", get("heldout")},
		{"code_ratio.png", "Code ratio per RL step", "share of responses with code", get("code_ratio")},
		{"heldout_code_ratio.png", "Held-out code ratio during RL", "share of responses with code", get("heldout_code")},
		{"response_length.png", "Response length per RL step", "tokens", get("length")},
		{"code_position.png", "Code invocation position per RL step", "first code offset ÷ response length", get("position")},
		{"code_lines.png", "Code lines per response per RL step", "lines", get("lines")},
		{"self_corrections.png", "Self-corrections per RL step", "failed call fixed later (count)", get("selfcorr")},
		{"tool_choice.png", "Tool choice of the ReTool arm per RL step", "share of responses", get("tools")},
	}
	pdir := filepath.Join(dir, "plots")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	for _, p := range plots {
		if err := linePlot(filepath.Join(pdir, p.file), p.title, p.ylabel, p.s); err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
	}

	var b strings.Builder
	b.WriteString("# ReTool in miniature: results\n\n")
	fmt.Fprintf(&b, "Model: Llama-style, hidden %d, %d layers, %d heads, intermediate %d, context %d tokens. RL: %s, %d steps × %d prompts × %d samples, lr %g, clip %g/%g, KL %g, tools %v. %d seed(s); %.0f s for this invocation of the run (a resumed run counts its own part only).\n\n",
		st.Model.Hidden, st.Model.Layers, st.Model.Heads, st.Model.Intermediate, st.Model.MaxSeq,
		strings.ToUpper(st.RL.Algorithm), st.RL.Steps, st.RL.Prompts, st.RL.Group, st.RL.LR, st.RL.ClipLow, st.RL.ClipHigh, st.RL.KLCoef, st.RL.Tools,
		st.Seeds, res.Seconds)
	b.WriteString("## Held-out problems\n\n")
	b.WriteString(Table(res))
	b.WriteString("\n## Cold start\n\n")
	arms := slices.Clone(st.Arms)
	sort.Strings(arms)
	for _, arm := range arms {
		ts := res.Traces[arm]
		fmt.Fprintf(&b, "- **%s** traces: %d made, %d kept (%d dropped because the sandbox's real output disagreed with the answer); styles: %s; code blocks by runtime: %s.\n",
			arm, ts.Made, ts.Kept, ts.Dropped, counts(ts.Styles), counts(ts.Langs))
	}
	keys := make([]string, 0, len(res.SFT))
	for k := range res.SFT {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\n| arm-seed | train / held-out traces | steps | epochs | best held-out loss (step) | stopped because | tokens/s |\n|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		s := res.SFT[k]
		why := "max_epochs"
		if s.Converged {
			why = "converged"
		}
		fmt.Fprintf(&b, "| %s | %d / %d | %d | %.1f | %.4f (%d) | %s | %.0f |\n", k, s.TrainTraces, s.ValTraces, s.Steps, s.Epochs, s.BestValLoss, s.BestStep, why, s.TokensPS)
	}
	b.WriteString("\nThe cold start stops when its loss on held-out traces has not improved by 0.5% for `patience` evaluations (four per epoch); the best checkpoint is kept.\n\n## During RL\n\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](plots/%s)\n\n", p.title, p.file)
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

// linePlot draws one line per key of s (the mean over seeds per step,
// with the spread as error bars when there are several seeds).
func linePlot(path, title, ylabel string, s series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "RL step"
	p.Y.Label.Text = ylabel
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		p.Title.Text += " (no data)"
	}
	for i, k := range keys {
		steps := make([]int, 0, len(s[k]))
		for st := range s[k] {
			steps = append(steps, st)
		}
		sort.Ints(steps)
		pts := make(plotter.XYs, len(steps))
		for j, st := range steps {
			m, _ := meanSD(s[k][st])
			pts[j] = plotter.XY{X: float64(st), Y: m}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(k, l)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}

// counts renders a count map as "a 3, b 1" in key order ("none" if empty).
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
