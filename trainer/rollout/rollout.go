package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/trainer/policy"
)

// Executor runs code; the orchestrator (core/orchestrator) implements it.
type Executor interface {
	Execute(ctx context.Context, req *execution.Request) (execution.Result, error)
	Languages() (map[string]string, error) // language → runtime, for choosing and for the prompt listing runtimes
}

// SessionExecutor is an Executor with stateful sessions (the
// orchestrator is one), needed for Options.Stateful.
type SessionExecutor interface {
	Executor
	OpenSession(ctx context.Context, lang string, limits execution.Limits) (string, error)
	ExecuteInSession(ctx context.Context, id string, req *execution.Request) (execution.Result, error)
	CloseSession(ctx context.Context, id string) error
}

// Engine runs trajectories. Its fields are read, never written, by Run, so
// one Engine may serve concurrent Runs.
type Engine struct {
	Policy   policy.Policy
	Exec     Executor
	Template Template
	Options  Options
	// CountTokens counts the tokens of text the policy did not generate
	// (interpreter output) and of model text when the policy reports no
	// tokens, for the token budget. Nil: the length of Tokenize's ids, or
	// without Tokenize one token per 4 bytes.
	CountTokens func(text string) int
	// Tokenize, when set (the policy's tokenizer), gives interpreter
	// segments their token ids, so that a trajectory's segments carry the
	// whole sequence the model saw, ready for training.
	Tokenize func(text string) []int
	// OnTrajectory, when set, receives each trajectory as it finishes (one
	// call at a time), so that a caller can save results as they come.
	OnTrajectory func(Trajectory)
}

// Options tune the loop. Zero values take the defaults noted.
type Options struct {
	// Stateful gives each trajectory one interpreter session per language
	// (globals persist across its calls); the Executor must then be a
	// SessionExecutor. Off: every call runs in a fresh process.
	Stateful bool
	// Logprobs asks the policy for sampled tokens and log-probabilities
	// (training needs them; evaluation does not, and some servers cannot).
	Logprobs bool
	// MaxToolCalls bounds the tool calls per trajectory (those answered
	// with an error, such as an unknown language, count too); 0: no bound,
	// as ReTool's evaluation. Generation goes on with the tool stop after
	// the last allowed call, so a model that answers then is not cut; a
	// further call is not run: the feedback tells the model so and one last
	// generation without the tool stop lets it answer ("answer", else
	// "max_tool_calls").
	MaxToolCalls int
	// MaxTokens is the budget of the whole response, model and
	// interpreter tokens together (default 16384); MaxTokensPerTurn bounds
	// one generation (default MaxTokens).
	MaxTokens        int
	MaxTokensPerTurn int
	// Temperature is passed as is (0 is greedy); TopP 0 means 1.
	Temperature, TopP float64
	// Concurrency bounds the trajectories in flight (default 64);
	// ToolConcurrency the executions in flight (default 16).
	Concurrency     int
	ToolConcurrency int
	// TruncateHead and TruncateTail: the characters of output kept from
	// the start and from the end, "..." between (default 200 and 200, as
	// ReTool's evaluation). A negative value turns truncation off.
	TruncateHead, TruncateTail int
	ErrorStyle                 ErrorStyle
	// ToolTimeout is each execution's wall-clock and CPU limit (default 5 s).
	ToolTimeout time.Duration
	// DefaultLanguage runs a bare ``` fence or a call naming no language
	// (default "python").
	DefaultLanguage string
}

const (
	defaultMaxTokens       = 16384
	defaultConcurrency     = 64
	defaultToolConcurrency = 16
	defaultTruncate        = 200
	defaultToolTimeout     = 5 * time.Second
)

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.MaxTokens == 0 {
		o.MaxTokens = defaultMaxTokens
	}
	if o.MaxTokensPerTurn == 0 || o.MaxTokensPerTurn > o.MaxTokens {
		o.MaxTokensPerTurn = o.MaxTokens
	}
	if o.TopP == 0 {
		o.TopP = 1
	}
	if o.Concurrency == 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.ToolConcurrency == 0 {
		o.ToolConcurrency = defaultToolConcurrency
	}
	if o.TruncateHead == 0 {
		o.TruncateHead = defaultTruncate
	}
	if o.TruncateTail == 0 {
		o.TruncateTail = defaultTruncate
	}
	if o.ToolTimeout == 0 {
		o.ToolTimeout = defaultToolTimeout
	}
	if o.DefaultLanguage == "" {
		o.DefaultLanguage = "python"
	}
	var errs []error
	if o.MaxToolCalls < 0 {
		errs = append(errs, fmt.Errorf("max_tool_calls %d is negative", o.MaxToolCalls))
	}
	if o.MaxTokens < 0 || o.MaxTokensPerTurn < 0 {
		errs = append(errs, fmt.Errorf("max_tokens %d / max_tokens_per_turn %d must be positive", o.MaxTokens, o.MaxTokensPerTurn))
	}
	if o.Concurrency < 0 || o.ToolConcurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d / tool_concurrency %d must be positive", o.Concurrency, o.ToolConcurrency))
	}
	if o.ToolTimeout < time.Millisecond || o.ToolTimeout > execution.MaxWallTime {
		errs = append(errs, fmt.Errorf("tool_timeout %s is outside [1ms, %s]", o.ToolTimeout, execution.MaxWallTime))
	}
	if o.ErrorStyle != LastLine && o.ErrorStyle != Whole {
		errs = append(errs, fmt.Errorf("unknown error style %d", int(o.ErrorStyle)))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("rollout options: %w", err)
	}
	return o, nil
}

// Prompt is one problem; Text is the question, which the template turns
// into the full prompt.
type Prompt struct{ ID, Text string }

// Stop reasons.
const (
	StopEOS          = "eos"            // the model ended without an answer
	StopAnswer       = "answer"         // the template's final answer is there
	StopMaxToolCalls = "max_tool_calls" // the last generation after the call limit gave no answer
	StopMaxTokens    = "max_tokens"     // the token budget (or one turn's cap) ran out
	StopError        = "error"          // see Trajectory.Error
)

// Trajectory is one sampled response with its tool calls.
type Trajectory struct {
	PromptID string `json:"prompt_id"`
	Sample   int    `json:"sample"`
	// Segments are in order: the prompt first (LossMask 0), then model and
	// interpreter text alternating; the texts after the prompt make up
	// Response exactly.
	Segments   []Segment  `json:"segments"`
	Response   string     `json:"response"` // everything after the prompt
	ToolCalls  []ToolCall `json:"tool_calls"`
	StopReason string     `json:"stop_reason"` // "eos" | "answer" | "max_tool_calls" | "max_tokens" | "error"
	// Error is a per-trajectory failure (policy down after retries, a code
	// block that never closed, …): recorded, not fatal for the batch.
	Error string `json:"error,omitempty"`
}

// Source says who wrote a segment.
type Source string

const (
	SourcePrompt      Source = "prompt"
	SourceModel       Source = "model"
	SourceInterpreter Source = "interpreter"
)

// Segment is a stretch of text from one source. Model segments carry the
// policy's tokens, ids and log-probabilities as it returned them (they
// may cover a stop sequence the text leaves out); interpreter segments
// carry ids when the Engine has a Tokenize (without the stop sequence the
// model's ids hold); prompt segments carry text only.
type Segment struct {
	Source   Source    `json:"source"`
	Text     string    `json:"text"`
	TokenIDs []int     `json:"token_ids,omitempty"`
	Tokens   []string  `json:"tokens,omitempty"`
	Logprobs []float64 `json:"logprobs,omitempty"`
	LossMask int       `json:"loss_mask"` // 1 model, 0 interpreter and prompt
}

// ToolCall is one tool call the model made.
type ToolCall struct {
	Language string `json:"language"`          // as chosen (DefaultLanguage for a bare fence)
	Runtime  string `json:"runtime,omitempty"` // "" when no runtime runs the language
	Code     string `json:"code"`
	// Status is the execution's status name ("finished", "failed",
	// "timeout", …); "failed" too for an unknown language or an unreadable
	// call, "skipped" for a call beyond MaxToolCalls.
	Status string `json:"status"`
	Output string `json:"output"` // what the model was shown, inside the feedback
	// Position is the byte offset in Response where the call starts (its
	// "<code>", fence or "<tool_call>"); FeedbackAt where the appended
	// feedback starts.
	Position   int           `json:"position"`
	FeedbackAt int           `json:"feedback_at"`
	WallTime   time.Duration `json:"wall_time_ns"`
}

// StatusSkipped marks a call beyond MaxToolCalls, which was not run.
const StatusSkipped = "skipped"

// Run samples n responses for each prompt. The result holds
// len(prompts)*n trajectories in a stable order: prompt by prompt, sample
// by sample. Per-trajectory failures are recorded in the trajectories; the
// error is for a bad configuration, runtimes that cannot be listed, or a
// cancelled ctx (the trajectories then hold what was done).
func (e *Engine) Run(ctx context.Context, prompts []Prompt, n int) ([]Trajectory, error) {
	switch {
	case e.Policy == nil:
		return nil, errors.New("rollout: no policy")
	case e.Exec == nil:
		return nil, errors.New("rollout: no executor")
	case e.Template == nil:
		return nil, errors.New("rollout: no template")
	case n < 1:
		return nil, fmt.Errorf("rollout: %d samples per prompt; at least 1", n)
	}
	if _, ok := e.Exec.(SessionExecutor); e.Options.Stateful && !ok {
		return nil, errors.New("rollout: stateful executions need an executor with sessions")
	}
	o, err := e.Options.withDefaults()
	if err != nil {
		return nil, err
	}
	langs, err := e.Exec.Languages()
	if err != nil {
		return nil, fmt.Errorf("rollout: list runtimes: %w", err)
	}
	r := &run{
		e: e, o: o, langs: langs,
		available: promptLanguages(langs, o.DefaultLanguage),
		toolSlots: make(chan struct{}, o.ToolConcurrency),
		count:     e.CountTokens,
	}
	switch {
	case r.count != nil:
	case e.Tokenize != nil:
		r.count = func(s string) int { return len(e.Tokenize(s)) }
	default:
		r.count = func(s string) int { return (len(s) + 3) / 4 }
	}
	out := make([]Trajectory, len(prompts)*n)
	slots := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var cbMu sync.Mutex
	started := 0
start:
	for i, p := range prompts {
		full := e.Template.Prompt(p.Text, r.available)
		for s := 0; s < n; s++ {
			t := &out[i*n+s]
			*t = Trajectory{PromptID: p.ID, Sample: s}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				break start
			}
			started++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				r.trajectory(ctx, t, full)
				if e.OnTrajectory != nil {
					cbMu.Lock()
					defer cbMu.Unlock()
					e.OnTrajectory(*t)
				}
			}()
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		for i := started; i < len(out); i++ {
			out[i].PromptID, out[i].Sample = prompts[i/n].ID, i%n
			out[i].StopReason, out[i].Error = StopError, "not run: "+err.Error()
		}
		return out, fmt.Errorf("rollout: %w", err)
	}
	return out, nil
}
