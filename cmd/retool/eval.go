package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/core/orchestrator"
	"github.com/retool-rl/retool/trainer/data"
	"github.com/retool-rl/retool/trainer/eval"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/policy"
	"github.com/retool-rl/retool/trainer/recipe"
	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
)

type evalFlags struct {
	data, dataDir, baseURL, model, apiKey, template, out, ks string
	checkpoint                                               string
	n, limit, maxToolCalls, maxTokens, concurrency           int
	temperature, topP                                        float64
	toolTimeout                                              time.Duration
	noSymbolic, stateful                                     bool
}

// The orchestrator gives rollouts their executions and sessions.
var _ rollout.SessionExecutor = (*orchestrator.Orchestrator)(nil)

func (a *app) evalCmd() *cobra.Command {
	var f evalFlags
	c := &cobra.Command{
		Use:   "eval --data SET --base-url URL --model NAME",
		Short: "Sample responses with tool calls for a data set, grade them, and report pass@k and the ReTool analysis metrics",
		Example: `  retool eval --data aime2024 --base-url http://127.0.0.1:8000/v1 --model M --n 32 --k 1,8,32
  retool --config eval.hcl eval        # the eval { … } block of the config; flags override it`,
		Long: `eval runs the ReTool loop (generation paused at each tool call, the code run in the
sandbox, its output fed back) for every problem of a data set, n samples each, through an
OpenAI-compatible /v1/completions server; grades every response; appends one JSON line per
trajectory to OUT/trajectories.jsonl as it finishes (a rerun resumes where it stopped); and
writes OUT/summary.json, OUT/report.md and PNG plots.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runEval(cmd, f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "a named set ("+strings.Join(data.Names(), ", ")+"), the train job's held-out tasks (tasks:heldout, tasks:heldout-phrasing) or a JSONL/Parquet file")
	fl.StringVar(&f.dataDir, "data-dir", "", "where named sets live (default: $RETOOL_DATA_DIR or ../shared/data)")
	fl.StringVar(&f.baseURL, "base-url", "", "OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
	fl.StringVar(&f.checkpoint, "checkpoint", "", "sample from an embedded-model checkpoint instead of a server (template retool-mini unless --template)")
	fl.StringVar(&f.model, "model", "", "model name the server knows")
	fl.StringVar(&f.apiKey, "api-key", os.Getenv("OPENAI_API_KEY"), "bearer token for the server (env OPENAI_API_KEY)")
	fl.StringVar(&f.template, "template", "retool", "retool | retool-runtimes | retool-mini | hermes | torl")
	fl.StringVar(&f.out, "out", "", "run directory (default runs/eval-SET)")
	fl.StringVar(&f.ks, "k", "1", "comma-separated k for pass@k and maj@k")
	fl.IntVar(&f.n, "n", 1, "samples per problem")
	fl.IntVar(&f.limit, "limit", 0, "use only the first N problems")
	fl.IntVar(&f.maxToolCalls, "max-tool-calls", 8, "tool calls per response")
	fl.IntVar(&f.maxTokens, "max-tokens", 16384, "token budget per response")
	fl.IntVar(&f.concurrency, "concurrency", 16, "trajectories in flight")
	fl.Float64Var(&f.temperature, "temperature", 1.0, "sampling temperature")
	fl.Float64Var(&f.topP, "top-p", 0.7, "nucleus sampling")
	fl.DurationVar(&f.toolTimeout, "tool-timeout", 5*time.Second, "wall time of one execution")
	fl.BoolVar(&f.noSymbolic, "no-symbolic", false, "grade without the sandboxed sympy checker")
	fl.BoolVar(&f.stateful, "stateful", false, "one interpreter session per trajectory and language (globals persist across its calls)")
	return c
}

func parseKs(s string) ([]int, error) {
	var ks []int
	for _, p := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || k < 1 {
			return nil, fmt.Errorf("--k %q: expected positive integers such as 1,4,16", s)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// fromConfig fills what no flag set from retool.hcl's eval block.
func (f *evalFlags) fromConfig(cmd *cobra.Command, e config.Eval) {
	changed := cmd.Flags().Changed
	str := func(name string, dst *string, v string) {
		if !changed(name) && v != "" {
			*dst = v
		}
	}
	str("data", &f.data, e.Data)
	str("template", &f.template, e.Template)
	str("base-url", &f.baseURL, e.BaseURL)
	str("model", &f.model, e.Model)
	num := func(name string, dst *int, v int) {
		if !changed(name) {
			*dst = v
		}
	}
	num("n", &f.n, e.N)
	num("max-tool-calls", &f.maxToolCalls, e.MaxToolCalls)
	num("max-tokens", &f.maxTokens, e.MaxTokens)
	if !changed("k") && len(e.K) > 0 {
		ks := make([]string, len(e.K))
		for i, k := range e.K {
			ks[i] = strconv.Itoa(k)
		}
		f.ks = strings.Join(ks, ",")
	}
	if !changed("temperature") {
		f.temperature = e.Temperature
	}
	if !changed("top-p") {
		f.topP = e.TopP
	}
	if !changed("stateful") {
		f.stateful = e.Stateful
	}
}

func (a *app) runEval(cmd *cobra.Command, f evalFlags) error {
	cfg, err := a.config("")
	if err != nil {
		return err
	}
	f.fromConfig(cmd, cfg.Eval)
	switch {
	case f.data == "":
		return fmt.Errorf("--data is required (a named set: %s, or a file)", strings.Join(data.Names(), ", "))
	case f.checkpoint == "" && (f.baseURL == "" || f.model == ""):
		return fmt.Errorf("--base-url and --model are required (an OpenAI-compatible server such as vLLM), or --checkpoint for the embedded model")
	case f.checkpoint != "" && f.baseURL != "":
		return fmt.Errorf("--checkpoint and --base-url both name a policy; give one")
	case f.n < 1:
		return fmt.Errorf("--n %d: need at least one sample per problem", f.n)
	}
	ks, err := parseKs(f.ks)
	if err != nil {
		return err
	}
	problems, err := resolveProblems(cfg, f.data, f.dataDir)
	if err != nil {
		return err
	}
	if f.limit > 0 && f.limit < len(problems) {
		problems = problems[:f.limit]
	}
	tmpl, err := rollout.TemplateByName(f.template)
	if err != nil {
		return err
	}
	var pol policy.Policy
	var tokenize func(string) []int
	if f.checkpoint != "" {
		m, err := model.Load(f.checkpoint)
		if err != nil {
			return err
		}
		emb, err := policy.NewEmbedded(m)
		if err != nil {
			return err
		}
		defer emb.Close()
		pol = emb
		tokenize = m.Tokenizer().Encode
		if !cmd.Flags().Changed("template") {
			if tmpl, err = rollout.TemplateByName("retool-mini"); err != nil {
				return err
			}
		}
		if ctxLen := m.Config().MaxPositionEmbeddings; f.maxTokens > ctxLen {
			f.maxTokens = ctxLen
		}
	} else {
		if pol, err = policy.NewOpenAI(policy.OpenAIConfig{BaseURL: f.baseURL, Model: f.model, APIKey: f.apiKey, Concurrency: f.concurrency}); err != nil {
			return err
		}
	}
	out := f.out
	if out == "" {
		out = filepath.Join("runs", "eval-"+strings.TrimSuffix(filepath.Base(f.data), filepath.Ext(f.data)))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	trajPath := filepath.Join(out, "trajectories.jsonl")
	previous, dropped, err := readPrevious(trajPath)
	if err != nil {
		return err
	}
	done := eval.Done(previous)

	o := orchestrator.New(cfg, a.dir(cfg), a.logger(cfg))
	defer o.Close()
	if err := o.Start(cmd.Context()); err != nil {
		return err
	}
	gradeOpts := reward.Options{}
	if !f.noSymbolic {
		gradeOpts.Symbolic = reward.SympySymbolic{Run: sympyRunner(o)}
	}

	byID := map[string]data.Problem{}
	var prompts []rollout.Prompt
	for _, p := range problems {
		byID[p.ID] = p
		if len(done[p.ID]) < f.n {
			prompts = append(prompts, rollout.Prompt{ID: p.ID, Text: p.Prompt})
		}
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "%d problems × %d samples; %d already done in %s%s\n", len(problems), f.n,
		len(problems)-len(prompts), trajPath, map[bool]string{true: fmt.Sprintf(" (%d truncated line dropped)", dropped)}[dropped > 0])

	file, err := os.OpenFile(trajPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer file.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(file)
	bar := progressbar.NewOptions(len(prompts)*f.n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("eval "+f.data),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	var writeErr error
	engine := &rollout.Engine{Policy: pol, Exec: o, Template: tmpl, Tokenize: tokenize,
		Options: rollout.Options{MaxToolCalls: f.maxToolCalls, MaxTokens: f.maxTokens, Temperature: f.temperature,
			TopP: f.topP, Concurrency: f.concurrency, ToolTimeout: f.toolTimeout, Stateful: f.stateful},
		OnTrajectory: func(t rollout.Trajectory) {
			p := byID[t.PromptID]
			rec := eval.Record{Dataset: f.data, Problem: t.PromptID, Answer: p.Answer, Trajectory: t}
			if t.Error == "" {
				res, err := reward.Reward(cmd.Context(), t.Response, p.Answer, gradeOpts)
				rec.Grade = res
				if err != nil {
					rec.GradeError = err.Error()
				}
			} else {
				rec.Grade = reward.Result{Reward: -1}
			}
			mu.Lock()
			defer mu.Unlock()
			_ = bar.Add(1)
			if done[t.PromptID][t.Sample] {
				return // kept from an earlier run
			}
			if err := enc.Encode(rec); err != nil && writeErr == nil {
				writeErr = err
			}
		},
	}
	if len(prompts) > 0 {
		if _, err := engine.Run(cmd.Context(), prompts, f.n); err != nil {
			return fmt.Errorf("eval: %w (finished trajectories are in %s; rerun to resume)", err, trajPath)
		}
	}
	_ = bar.Finish()
	if writeErr != nil {
		return fmt.Errorf("write %s: %w", trajPath, writeErr)
	}
	return writeReport(cmd, out, trajPath, ks)
}

// readPrevious loads an earlier run's records, if any, for resuming.
func readPrevious(path string) ([]eval.Record, int, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, 0, nil
	}
	return eval.ReadRecords(path)
}

func writeReport(cmd *cobra.Command, out, trajPath string, ks []int) error {
	records, _, err := eval.ReadRecords(trajPath)
	if err != nil {
		return err
	}
	sum := eval.Summarize(records, ks)
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary.json"), b, 0o644); err != nil {
		return err
	}
	plots, err := eval.WritePlots(filepath.Join(out, "plots"), records)
	if err != nil {
		return err
	}
	report := sum.Markdown()
	for _, p := range plots {
		report += fmt.Sprintf("\n![%s](plots/%s)\n", strings.TrimSuffix(p, ".png"), p)
	}
	if err := os.WriteFile(filepath.Join(out, "report.md"), []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprint(cmd.OutOrStdout(), sum.Markdown())
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s, summary.json, report.md and %d plots in %s\n", filepath.Base(trajPath), len(plots), out)
	return nil
}

// resolveProblems loads a named set or file, or generates the train job's
// held-out tasks ("tasks:heldout", "tasks:heldout-phrasing") as a run
// evaluates them.
func resolveProblems(cfg *config.Config, name, dir string) ([]data.Problem, error) {
	split, ok := strings.CutPrefix(name, "tasks:")
	if !ok {
		return data.Resolve(name, dir, data.Mapping{})
	}
	t := config.DefaultTrain
	if cfg.Job != nil && cfg.Job.Train != nil {
		t = *cfg.Job.Train
	}
	ps, err := recipe.Problems(t.Tasks, split)
	if err != nil {
		return nil, err
	}
	out := make([]data.Problem, len(ps))
	for i, p := range ps {
		out[i] = data.Problem{ID: p.ID, Group: p.ID, Prompt: p.Question, Answer: p.Answer}
	}
	return out, nil
}
