package recipe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/trainer/eval"
	"github.com/retool-rl/retool/trainer/policy"
	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
	"github.com/retool-rl/retool/trainer/tasks"
)

// sampling is how one stage samples responses.
type sampling struct {
	n                       int
	temperature, topP       float64
	maxToolCalls, maxTokens int
	logprobs                bool
}

// template is the format of every stage: ReTool's tags with the question
// alone as prompt (the model learns the format in its cold start).
var template = rollout.ReTool{Mini: true}

// toolStop is the stop sequence of a tool call in template.
const toolStop = "</code>"

// truncate is the characters of output shown from each end: ReTool's
// 200 + 200 scaled to the small model's context (every byte is a token).
const truncate = 40

// toolTimeout bounds one execution: the tasks need milliseconds, and a
// model that writes a loop without end must not stall a step.
const toolTimeout = 5 * time.Second

// rollouts samples s.n responses per problem with the tools exec offers
// and grades them; a trajectory that failed for a reason not the model's
// (the executor broke) is recorded with GradeError set.
func rollouts(ctx context.Context, pol policy.Policy, exec rollout.Executor, tokenize func(string) []int,
	probs []tasks.Problem, s sampling, dataset string) ([]eval.Record, error) {
	eng := &rollout.Engine{
		Policy: pol, Exec: exec, Template: template, Tokenize: tokenize,
		Options: rollout.Options{
			Logprobs: s.logprobs, MaxToolCalls: s.maxToolCalls, MaxTokens: s.maxTokens,
			Temperature: s.temperature, TopP: s.topP, Concurrency: 64, ToolConcurrency: 16,
			ToolTimeout: toolTimeout, TruncateHead: truncate, TruncateTail: truncate,
		},
	}
	prompts := make([]rollout.Prompt, len(probs))
	for i, p := range probs {
		prompts[i] = rollout.Prompt{ID: p.ID, Text: p.Question}
	}
	trajs, err := eng.Run(ctx, prompts, s.n)
	if err != nil {
		return nil, err
	}
	recs := make([]eval.Record, len(trajs))
	for i, t := range trajs {
		p := probs[i/s.n]
		recs[i] = eval.Record{Dataset: dataset, Problem: p.ID, Answer: p.Answer, Trajectory: t}
		if isInfraError(t) {
			recs[i].Grade = reward.Result{Reward: -1}
			recs[i].GradeError = t.Error
			continue
		}
		g, err := reward.Reward(ctx, t.Response, p.Answer, reward.Options{})
		recs[i].Grade = g
		if err != nil {
			recs[i].GradeError = err.Error()
		}
	}
	return recs, nil
}

// isInfraError reports a trajectory cut short by the executor or the
// policy itself, not by what the model wrote: it is left out of training
// instead of being punished.
func isInfraError(t rollout.Trajectory) bool {
	if t.StopReason != rollout.StopError {
		return false
	}
	for _, p := range []string{"executor: ", "policy: ", "not run: "} {
		if strings.HasPrefix(t.Error, p) {
			return true
		}
	}
	return false
}

// Score is what one evaluation reports about a model.
type Score struct {
	Stage    string  `json:"stage"`
	Arm      string  `json:"arm"`
	Seed     int     `json:"seed"`
	Step     int     `json:"step"`
	Dataset  string  `json:"dataset"`
	Accuracy float64 `json:"accuracy"` // pass@1 as avg@n
	// CodeRatio and the rest are the paper's analysis metrics.
	CodeRatio       float64            `json:"code_ratio"`
	ResponseTokens  float64            `json:"response_tokens"`
	CodePosition    float64            `json:"code_position"`
	CodeLines       float64            `json:"code_lines"`
	SelfCorrections int                `json:"self_corrections"`
	CorrectCode     int                `json:"correct_code"`
	Tools           map[string]float64 `json:"tools"` // share of responses calling each runtime
	ByKind          map[string]float64 `json:"accuracy_by_kind"`
	Samples         int                `json:"samples"`
	InfraErrors     int                `json:"infra_errors,omitempty"`
}

// score summarises graded records.
func score(recs []eval.Record, kinds map[string]string) Score {
	m := eval.Summarize(recs, []int{1}).Overall
	s := Score{
		Accuracy: m.PassAt1, CodeRatio: m.CodeRatio, CodePosition: m.CodePosition.Mean,
		CodeLines: m.CodeLines, SelfCorrections: m.SelfCorrections, CorrectCode: m.CorrectCode,
		Samples: m.Samples, Tools: map[string]float64{}, ByKind: map[string]float64{},
	}
	if m.ResponseTokens != nil {
		s.ResponseTokens = m.ResponseTokens.Mean
	}
	perResp := map[string]int{}
	right, total := map[string]int{}, map[string]int{}
	for _, r := range recs {
		if r.GradeError != "" && isInfraError(r.Trajectory) {
			s.InfraErrors++
		}
		langs := map[string]bool{}
		for _, c := range r.Trajectory.ToolCalls {
			if c.Status != rollout.StatusSkipped {
				langs[c.Language] = true
			}
		}
		for l := range langs {
			perResp[l]++
		}
		k := kinds[r.Problem]
		total[k]++
		if r.Correct() {
			right[k]++
		}
	}
	for l, n := range perResp {
		s.Tools[l] = float64(n) / float64(max(1, len(recs)))
	}
	for k, n := range total {
		s.ByKind[k] = float64(right[k]) / float64(n)
	}
	return s
}

// kindsOf maps problem ids to their kinds.
func kindsOf(sets ...[]tasks.Problem) map[string]string {
	out := map[string]string{}
	for _, ps := range sets {
		for _, p := range ps {
			out[p.ID] = p.Kind
		}
	}
	return out
}

// toolset offers the model only the runtimes of the job's tools; with
// none (the text-only arm) every code block comes back as an error that
// names no runtime, and nothing runs.
type toolset struct {
	exec  rollout.Executor
	tools []string
}

func (t toolset) Languages() (map[string]string, error) {
	out := map[string]string{}
	if len(t.tools) == 0 {
		return out, nil
	}
	all, err := t.exec.Languages()
	if err != nil {
		return nil, err
	}
	for l, rt := range all {
		if slices.Contains(t.tools, rt) {
			out[l] = rt
		}
	}
	return out, nil
}

func (t toolset) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	if len(t.tools) == 0 {
		return execution.Result{}, fmt.Errorf("tools are disabled")
	}
	return t.exec.Execute(ctx, req)
}
