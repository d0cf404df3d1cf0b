package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retool-rl/retool/trainer/algo"
	"github.com/retool-rl/retool/trainer/eval"
	"github.com/retool-rl/retool/trainer/model"
	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
	"github.com/retool-rl/retool/trainer/tasks"
)

// maskedText decodes the tokens whose mask is m.
func maskedText(tok *model.Tokenizer, tokens []int, mask []float32, m float32) string {
	var ids []int
	for i, t := range tokens {
		if mask[i] == m {
			ids = append(ids, t)
		}
	}
	return tok.Decode(ids)
}

func TestTraceSampleMasksInterpreter(t *testing.T) {
	tok := model.NewTokenizer()
	tr := tasks.Trace{
		Problem: tasks.Problem{ID: "mul/12,34/0", Question: "What is 12 * 34?", Answer: "408"},
		Style:   tasks.StyleCode,
		Parts:   []tasks.Part{{Text: "Let me compute it.\n", Block: &tasks.Block{Lang: "python", Code: "print(12 * 34)", Output: "408\n"}}},
	}
	samples, tooLong := traceSamples(tok, []tasks.Trace{tr}, 512)
	if len(samples) != 1 || tooLong != 0 {
		t.Fatalf("%d samples, %d too long", len(samples), tooLong)
	}
	s := samples[0]
	if s.Tokens[0] != model.EOS || s.Mask[0] != 0 || s.Tokens[len(s.Tokens)-1] != model.EOS || s.Mask[len(s.Mask)-1] != 1 {
		t.Error("a sample starts with BOS (masked out) and ends with EOS (trained)")
	}
	// What the model is trained to write: its reasoning, the call with
	// its stop sequence, the answer and the end.
	want := "Let me compute it.\n<code>\n```python\nprint(12 * 34)\n```\n</code><answer>\n\\boxed{408}\n</answer><|endoftext|>"
	if got := maskedText(tok, s.Tokens, s.Mask, 1); got != want {
		t.Errorf("trained text:\n%q\nwant\n%q", got, want)
	}
	// What it is not: BOS, the prompt, the interpreter's output.
	if got := maskedText(tok, s.Tokens, s.Mask, 0); got != "<|endoftext|>Problem: What is 12 * 34?\n\n<interpreter>\n408\n</interpreter>\n\n" {
		t.Errorf("masked-out text: %q", got)
	}
}

func TestTrajectorySample(t *testing.T) {
	tok := model.NewTokenizer()
	call := tok.Encode("<code>\n```python\nprint(1+1)\n```\n</code>")
	answer := tok.Encode("<answer>\n\\boxed{2}\n</answer><|endoftext|>")
	lp := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = -0.5
		}
		return out
	}
	tr := rollout.Trajectory{Segments: []rollout.Segment{
		{Source: rollout.SourcePrompt, Text: "Problem: 1+1?\n"},
		{Source: rollout.SourceModel, Text: "<code>\n```python\nprint(1+1)\n```\n", TokenIDs: call, Logprobs: lp(len(call)), LossMask: 1},
		{Source: rollout.SourceInterpreter, Text: "</code>\n<interpreter>\n2\n</interpreter>\n\n"},
		{Source: rollout.SourceModel, Text: "<answer>\n\\boxed{2}\n</answer>", TokenIDs: answer, Logprobs: lp(len(answer)), LossMask: 1},
	}}
	s, err := trajectorySample(tok, tr, toolStop)
	if err != nil {
		t.Fatal(err)
	}
	// The sequence is what the policy saw: "</code>" once, from the model.
	if got := tok.Decode(s.Tokens); got != "<|endoftext|>Problem: 1+1?\n<code>\n```python\nprint(1+1)\n```\n</code>\n<interpreter>\n2\n</interpreter>\n\n<answer>\n\\boxed{2}\n</answer><|endoftext|>" {
		t.Errorf("sequence %q", got)
	}
	if got := maskedText(tok, s.Tokens, s.Mask, 0); got != "<|endoftext|>Problem: 1+1?\n\n<interpreter>\n2\n</interpreter>\n\n" {
		t.Errorf("masked out %q", got)
	}
	for i, m := range s.Mask {
		if (m == 1) != (s.OldLogp[i] == -0.5) {
			t.Fatalf("token %d: mask %v but old log-prob %v", i, m, s.OldLogp[i])
		}
	}
	tr.Segments[1].Logprobs = nil
	if _, err := trajectorySample(tok, tr, toolStop); err == nil {
		t.Error("a model segment without log-probs: no error")
	}
}

func TestTruncateSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(path, []byte("{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"step\":4,\"tor"), 0o644)
	if err := truncateSteps(path, 2); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{\"step\":1}\n{\"step\":2}\n" {
		t.Errorf("after truncating to step 2: %q", b)
	}
	if err := truncateSteps(filepath.Join(t.TempDir(), "none.jsonl"), 0); err != nil {
		t.Errorf("a missing file: %v", err)
	}
}

func TestSchedule(t *testing.T) {
	if s := schedule(0, 100); s != 0.2 {
		t.Errorf("first warm-up step: %v", s)
	}
	if s := schedule(5, 100); s != 1 {
		t.Errorf("end of warm-up: %v", s)
	}
	if s := schedule(100, 100); s < 0.0999 || s > 0.1001 {
		t.Errorf("end: %v", s)
	}
	for st := 6; st < 100; st++ {
		if schedule(st, 100) > schedule(st-1, 100) {
			t.Fatalf("the decay rises at step %d", st)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rl")
	cfg := model.Config{HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, MaxPositionEmbeddings: 32}.Normalize()
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := model.NewAdamW(m, model.AdamWConfig{LR: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok, err := loadCheckpoint(dir, model.AdamWConfig{LR: 1e-3}); ok || err != nil {
		t.Fatalf("no checkpoint yet: ok %v, err %v", ok, err)
	}
	for step := 1; step <= 2; step++ {
		if err := saveCheckpoint(dir, m, opt, ckptState{Step: step}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, st, ok, err := loadCheckpoint(dir, model.AdamWConfig{LR: 1e-3})
	if err != nil || !ok || st.Step != 2 {
		t.Fatalf("load: ok %v, step %d, err %v", ok, st.Step, err)
	}
	// A swap killed between its two renames leaves only dir.old.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if _, _, st, ok, err := loadCheckpoint(dir, model.AdamWConfig{LR: 1e-3}); err != nil || !ok || st.Step != 2 {
		t.Fatalf("from .old: ok %v, step %d, err %v", ok, st.Step, err)
	}
	// A corrupt checkpoint is an error, not a fresh start.
	os.WriteFile(filepath.Join(dir+".old", "model.safetensors"), []byte("garbage"), 0o644)
	if _, _, _, _, err := loadCheckpoint(dir, model.AdamWConfig{LR: 1e-3}); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("corrupt checkpoint: %v", err)
	}
}

func TestBatchOf(t *testing.T) {
	tok := model.NewTokenizer()
	call := tok.Encode("<code>\n```python\nwhile True: pass\n```\n</code>")
	lp := make([]float64, len(call))
	seg := func(src rollout.Source, text string, ids []int, lps []float64) rollout.Segment {
		return rollout.Segment{Source: src, Text: text, TokenIDs: ids, Logprobs: lps}
	}
	timedOut := rollout.Trajectory{StopReason: rollout.StopEOS, Segments: []rollout.Segment{
		seg(rollout.SourcePrompt, "Problem: loop?\n", nil, nil),
		seg(rollout.SourceModel, "<code>\n```python\nwhile True: pass\n```\n", call, lp),
		seg(rollout.SourceInterpreter, "</code>\n<interpreter>\nTimeout: wall time limit 5s exceeded\n</interpreter>\n\n", nil, nil),
	}}
	pluginDied := timedOut
	pluginDied.StopReason, pluginDied.Error = rollout.StopError, "executor: plugin python exited"
	policyDown := timedOut
	policyDown.StopReason, policyDown.Error = rollout.StopError, "policy: connection refused"
	unclosed := timedOut
	unclosed.StopReason, unclosed.Error = rollout.StopError, "the generation ended inside a code block that never closed"
	recs := []eval.Record{
		{Problem: "a", Trajectory: timedOut, Grade: reward.Result{Reward: -1}},
		{Problem: "a", Trajectory: pluginDied, Grade: reward.Result{Reward: -1}},
		{Problem: "b", Trajectory: policyDown, Grade: reward.Result{Reward: -1}},
		{Problem: "b", Trajectory: unclosed, Grade: reward.Result{Reward: -1}},
	}
	batch, sampled, err := batchOf(tok, recs, 2, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// A timed-out call and a block left open are the model's doing and are
	// trained on (reward -1); a dead plugin or policy is not, and is left out.
	if len(batch) != 2 || batch[0].Group != 0 || batch[1].Group != 1 || sampled != 2*len(call) {
		t.Fatalf("batch of %d (groups %v), %d sampled tokens", len(batch), groups(batch), sampled)
	}
	// A trajectory longer than the context is cut to it.
	short, _, err := batchOf(tok, recs[:1], 2, 10)
	if err != nil || len(short) != 1 || len(short[0].Tokens) != 10 || len(short[0].Mask) != 10 || len(short[0].OldLogp) != 10 {
		t.Fatalf("cut to the context: %+v, %v", short, err)
	}
}

func groups(b []algo.Sample) []int {
	out := make([]int, len(b))
	for i, s := range b {
		out[i] = s.Group
	}
	return out
}
