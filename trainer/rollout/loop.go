package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/trainer/policy"
)

// run is one Run's shared state.
type run struct {
	e         *Engine
	o         Options
	langs     map[string]string // language → runtime
	available []string          // one language per runtime, for messages
	toolSlots chan struct{}
	count     func(string) int
}

// turn is one trajectory's state as it grows.
type turn struct {
	t        *Trajectory
	prompt   string
	response strings.Builder
	used     int // tokens of the response so far
	calls    int // executed tool calls
	// sessions are the trajectory's stateful interpreters by language
	// (Options.Stateful), closed when the trajectory ends.
	sessions map[string]string
}

func (s *turn) add(seg Segment) {
	if seg.Text == "" && len(seg.Tokens) == 0 && len(seg.TokenIDs) == 0 {
		return
	}
	s.t.Segments = append(s.t.Segments, seg)
	s.response.WriteString(seg.Text)
}

func (s *turn) finish(reason, errMsg string) {
	s.t.Response = s.response.String()
	s.t.StopReason, s.t.Error = reason, errMsg
}

// trajectory runs the loop for one sample: generate; at a tool call run
// it and append the feedback; stop at EOS, the answer, the call limit or
// the token budget.
func (r *run) trajectory(ctx context.Context, t *Trajectory, prompt string) {
	tmpl := r.e.Template
	s := &turn{t: t, prompt: prompt}
	defer r.closeSessions(s)
	t.Segments = []Segment{{Source: SourcePrompt, Text: prompt}}
	t.Response = ""
	lastTurn := false // the generation after a refused call: no tool stop
	for {
		remaining := r.o.MaxTokens - s.used
		if remaining <= 0 {
			s.finish(StopMaxTokens, "")
			return
		}
		stops := tmpl.Stop()
		if lastTurn {
			stops = nil
		}
		resp := s.response.String()
		cs, err := r.e.Policy.Generate(ctx, policy.Request{
			Prompt: prompt + resp, Stop: stops,
			MaxTokens: min(r.o.MaxTokensPerTurn, remaining), Temperature: r.o.Temperature, TopP: r.o.TopP,
			N: 1, Logprobs: r.o.Logprobs,
		})
		if err == nil && len(cs) == 0 {
			err = errors.New("no completion returned")
		}
		if err != nil {
			s.finish(StopError, "policy: "+err.Error())
			return
		}
		c := cs[0]
		text := c.Text
		toolStop := false
		// matched is the stop sequence the policy reported or left in the
		// text: its tokens are the model's, among the completion's ids.
		matched := ""
		if !lastTurn && c.FinishReason != "length" {
			switch {
			case c.StopSequence != "" && slices.Contains(stops, c.StopSequence):
				toolStop, matched = true, c.StopSequence
				text = strings.TrimSuffix(text, c.StopSequence)
			case c.StopSequence == "":
				for _, stop := range stops {
					if strings.HasSuffix(text, stop) {
						toolStop, matched = true, stop
						text = strings.TrimSuffix(text, stop)
						break
					}
				}
			}
		}
		pc := parse(tmpl, text)
		// A server that drops the stop sequence without naming it makes
		// "stop" ambiguous: a complete call ending the text is a tool stop.
		if !toolStop && !lastTurn && c.FinishReason != "length" && c.StopSequence == "" && pc.atEnd(text) {
			toolStop = true
		}
		start := len(resp)
		s.add(Segment{Source: SourceModel, Text: text, TokenIDs: c.TokenIDs, Tokens: c.Tokens, Logprobs: c.Logprobs, LossMask: 1})
		s.used += r.modelTokens(c)

		if !toolStop {
			switch {
			case tmpl.AnswerDone(s.response.String()):
				s.finish(StopAnswer, "")
			case c.FinishReason == "length":
				s.finish(StopMaxTokens, "")
			case lastTurn:
				s.finish(StopMaxToolCalls, "")
			case pc.state == openCall || pc.state == badCall:
				s.finish(StopError, "the generation ended inside a code block that never closed")
			default:
				s.finish(StopEOS, "")
			}
			return
		}

		call := ToolCall{Position: start + pc.start, Language: pc.lang, Code: pc.code}
		if call.Language == "" {
			call.Language = r.o.DefaultLanguage
		}
		if call.Language == "py" {
			call.Language = "python"
		}
		var shown string
		switch {
		case pc.state == noCall:
			s.finish(StopError, fmt.Sprintf("the generation stopped for a tool call but holds none (%s)", stopName(c, stops)))
			return
		case pc.state == openCall:
			s.finish(StopError, "unclosed code block: its fence is not closed before the end of the tool call")
			return
		case pc.state == closedCall && strings.TrimSpace(pc.code) == "":
			s.finish(StopError, "empty code block")
			return
		case r.o.MaxToolCalls > 0 && s.calls >= r.o.MaxToolCalls:
			call.Status = StatusSkipped
			shown = fmt.Sprintf("Error: the limit of %d tool calls is reached; this code was not run. Give your final answer now.\n", r.o.MaxToolCalls)
			lastTurn = true
		case pc.state == badCall:
			call.Status, shown = execution.Failed.String(), withNewline("Error: "+pc.msg)
			s.calls++
		default:
			s.calls++
			rt, ok := r.langs[call.Language]
			if !ok {
				call.Status, shown = execution.Failed.String(), unknownLanguage(call.Language, r.available)
				break
			}
			call.Runtime = rt
			res, wall, err := r.execute(ctx, s, call.Language, pc.code)
			call.WallTime = wall
			switch {
			case err == nil:
				call.Status, shown = res.Status.String(), r.o.shownOutput(res)
			case errors.Is(err, execution.ErrInvalid):
				// Refused before it ran (too large, not UTF-8): the model's doing.
				call.Status, shown = execution.Failed.String(), withNewline("Error: "+err.Error())
			default:
				// The executor itself failed (or ctx ended): not the model's
				// doing, so not shown to it as if its code had failed.
				s.finish(StopError, "executor: "+err.Error())
				return
			}
		}
		call.Output = shown
		fb := tmpl.Feedback(shown)
		call.FeedbackAt = s.response.Len()
		t.ToolCalls = append(t.ToolCalls, call)
		seg := Segment{Source: SourceInterpreter, Text: fb, LossMask: 0}
		if tk := r.e.Tokenize; tk != nil {
			// The completion's ids already hold the stop sequence the model
			// wrote; the interpreter's ids hold the rest of the feedback,
			// so the segments' ids, in order, are the sequence the model saw.
			body := fb
			if matched != "" && len(c.TokenIDs) > 0 {
				body = strings.TrimPrefix(fb, matched)
			}
			seg.TokenIDs = tk(body)
		}
		s.add(seg)
		s.used += r.count(fb)
	}
}

// stopName names what ended a generation, for error messages.
func stopName(c policy.Completion, stops []string) string {
	if c.StopSequence != "" {
		return fmt.Sprintf("stop sequence %q", c.StopSequence)
	}
	return fmt.Sprintf("finish reason %q, stops %q", c.FinishReason, stops)
}

// modelTokens counts a completion's tokens as the policy reports them.
func (r *run) modelTokens(c policy.Completion) int {
	switch {
	case len(c.TokenIDs) > 0:
		return len(c.TokenIDs)
	case len(c.Tokens) > 0:
		return len(c.Tokens)
	}
	return r.count(c.Text)
}

// execute runs code within ToolConcurrency; a call that outlives its
// timeout by far (a hung executor) counts as timed out.
func (r *run) execute(ctx context.Context, s *turn, lang, code string) (execution.Result, time.Duration, error) {
	select {
	case r.toolSlots <- struct{}{}:
	case <-ctx.Done():
		return execution.Result{}, 0, ctx.Err()
	}
	defer func() { <-r.toolSlots }()
	cctx, cancel := context.WithTimeout(ctx, 2*r.o.ToolTimeout+time.Second)
	defer cancel()
	begin := time.Now()
	req := &execution.Request{
		Language: lang, Code: code,
		Limits: execution.Limits{WallTime: r.o.ToolTimeout, CPUTime: r.o.ToolTimeout},
	}
	var res execution.Result
	var err error
	if r.o.Stateful {
		res, err = r.executeInSession(cctx, s, req)
	} else {
		res, err = r.e.Exec.Execute(cctx, req)
	}
	wall := time.Since(begin)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		return execution.Result{Status: execution.Timeout, WallTime: wall}, wall, nil
	}
	return res, wall, err
}

// executeInSession runs req in the trajectory's session for its language,
// opening it on first use: later calls see the globals earlier ones set.
func (r *run) executeInSession(ctx context.Context, s *turn, req *execution.Request) (execution.Result, error) {
	sx := r.e.Exec.(SessionExecutor) // checked when the run started
	id, ok := s.sessions[req.Language]
	if !ok {
		var err error
		if id, err = sx.OpenSession(ctx, req.Language, execution.Limits{}); err != nil {
			return execution.Result{}, err
		}
		if s.sessions == nil {
			s.sessions = map[string]string{}
		}
		s.sessions[req.Language] = id
	}
	res, err := sx.ExecuteInSession(ctx, id, req)
	if err != nil {
		// A session that ended (a timeout kills its interpreter) is opened
		// again by the next call, which starts from empty globals.
		delete(s.sessions, req.Language)
		_ = sx.CloseSession(context.WithoutCancel(ctx), id)
		if res.Status != 0 {
			return res, nil
		}
	}
	return res, err
}

func (r *run) closeSessions(s *turn) {
	if len(s.sessions) == 0 {
		return
	}
	sx := r.e.Exec.(SessionExecutor)
	for _, id := range s.sessions {
		_ = sx.CloseSession(context.Background(), id)
	}
}
