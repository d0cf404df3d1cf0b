package recipe

import (
	"fmt"
	"strings"

	"github.com/retool-rl/retool/trainer/algo"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/rollout"
)

// span is a byte range of a response that the model did not write.
type span struct{ start, end int }

// textSample tokenises prompt + response as the policy sees it (BOS,
// then the prompt, then the response), masking out the prompt and the
// given spans of the response (interpreter output). A span that starts
// with the tool's stop sequence leaves that sequence to the model: the
// model writes "</code>" to call the tool, the interpreter only what
// follows.
func textSample(tok *model.Tokenizer, prompt, response string, interp []span, stop string) ([]int, []float32) {
	tokens := append([]int{model.EOS}, tok.Encode(prompt)...)
	mask := make([]float32, len(tokens))
	add := func(s string, m float32) {
		ids := tok.Encode(s)
		tokens = append(tokens, ids...)
		for range ids {
			mask = append(mask, m)
		}
	}
	at := 0
	for _, sp := range interp {
		start := sp.start
		if stop != "" && strings.HasPrefix(response[start:sp.end], stop) {
			start += len(stop)
		}
		add(response[at:start], 1)
		add(response[start:sp.end], 0)
		at = sp.end
	}
	add(response[at:], 1)
	tokens = append(tokens, model.EOS)
	mask = append(mask, 1)
	return tokens, mask
}

// trajectorySample turns a trajectory into the learner's sample: model
// segments as the policy sampled them (their token ids and
// log-probabilities, which cover the stop sequence the text leaves out),
// interpreter segments tokenised without the stop sequence the model
// already wrote, masked out.
func trajectorySample(tok *model.Tokenizer, t rollout.Trajectory, stop string) (algo.Sample, error) {
	var s algo.Sample
	s.Tokens = []int{model.EOS}
	s.Mask = []float32{0}
	s.OldLogp = []float32{0}
	prevStop := false
	for i, seg := range t.Segments {
		switch seg.Source {
		case rollout.SourcePrompt:
			ids := tok.Encode(seg.Text)
			s.Tokens = append(s.Tokens, ids...)
			s.Mask = append(s.Mask, make([]float32, len(ids))...)
			s.OldLogp = append(s.OldLogp, make([]float32, len(ids))...)
			prevStop = false
		case rollout.SourceModel:
			if len(seg.TokenIDs) != len(seg.Logprobs) {
				return s, fmt.Errorf("segment %d: %d token ids but %d log-probs", i, len(seg.TokenIDs), len(seg.Logprobs))
			}
			s.Tokens = append(s.Tokens, seg.TokenIDs...)
			for _, lp := range seg.Logprobs {
				s.Mask = append(s.Mask, 1)
				s.OldLogp = append(s.OldLogp, float32(lp))
			}
			prevStop = stop != "" && strings.HasSuffix(tok.Decode(seg.TokenIDs), stop)
		case rollout.SourceInterpreter:
			// The engine tokenised it (without the stop sequence the
			// model's ids hold); a trajectory from elsewhere may not be.
			ids := seg.TokenIDs
			if ids == nil {
				text := seg.Text
				if prevStop {
					text = strings.TrimPrefix(text, stop)
				}
				ids = tok.Encode(text)
			}
			s.Tokens = append(s.Tokens, ids...)
			s.Mask = append(s.Mask, make([]float32, len(ids))...)
			s.OldLogp = append(s.OldLogp, make([]float32, len(ids))...)
			prevStop = false
		}
	}
	return s, nil
}
