package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retool-rl/retool/trainer/model"
)

// TestQuickProfile runs the README's first command in its CI size —
// `retool run retool.hcl --profile quick`, the whole ReTool pipeline on
// the real sandbox — kills it in the middle of RL, resumes it, and checks
// the outcome: RL beat the cold start on the held-out problems, and the
// run directory holds what it should. It takes minutes and all the CPU,
// so it runs alone, after the other tests (make test sets RETOOL_TEST_TRAIN).
func TestQuickProfile(t *testing.T) {
	if os.Getenv("RETOOL_TEST_TRAIN") == "" {
		t.Skip("set RETOOL_TEST_TRAIN=1 to run the quick training profile end to end (make test does, after the other tests)")
	}
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-sympy"))
	src, err := os.ReadFile("../../retool.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(c.workDir, "retool.hcl")
	if err := os.WriteFile(cfg, src, 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(c.workDir, "runs", "retool-quick")
	metrics := filepath.Join(runDir, "retool-seed1", "metrics.jsonl")

	// First run: killed once RL has checkpointed a few steps.
	cmd := exec.Command(filepath.Join(binDir, "retool"), "run", cfg, "--profile", "quick")
	cmd.Dir = c.workDir
	cmd.Env = append(os.Environ(), "RETOOL_PLUGIN_DIR="+c.pluginDir)
	var out1 strings.Builder
	cmd.Stdout, cmd.Stderr = &out1, &out1
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for len(steps(t, metrics)) < 7 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("RL did not reach step 7 in 5 minutes:\n%s", out1.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// Second run: resumes from the last checkpoint and finishes.
	start := time.Now()
	out, errOut, code := c.run("", "run", cfg, "--profile", "quick")
	if code != 0 {
		t.Fatalf("resumed run: exit %d\n%s\n%s\nfirst run:\n%s", code, out, errOut, out1.String())
	}
	t.Logf("first run (killed):\n%s\nresumed run (%s):\n%s", out1.String(), time.Since(start).Round(time.Second), out)
	if !strings.Contains(out, "resuming RL after step") {
		t.Error("the second run did not resume RL from a checkpoint")
	}
	// Every step once, in order, none lost or repeated across the kill.
	got := steps(t, metrics)
	for i, s := range got {
		if s != i+1 {
			t.Fatalf("metrics.jsonl steps %v: want 1..N once each", got)
		}
	}

	var res struct {
		Settings struct {
			RL struct{ Steps int } `json:"rl"`
		} `json:"settings"`
		Scores []struct {
			Stage, Arm, Dataset string
			Step                int
			Accuracy            float64
		} `json:"scores"`
	}
	b, err := os.ReadFile(filepath.Join(runDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(got) != res.Settings.RL.Steps {
		t.Errorf("%d steps in metrics.jsonl, %d configured", len(got), res.Settings.RL.Steps)
	}
	acc := map[string]float64{}
	for _, s := range res.Scores {
		if s.Dataset == "heldout" {
			acc[s.Stage+"/"+s.Arm] = s.Accuracy
		}
	}
	t.Logf("held-out accuracy: %v", acc)
	if acc["rl/retool"] <= acc["cold-start/retool"] {
		t.Errorf("ReTool RL %.3f did not improve on its cold start %.3f", acc["rl/retool"], acc["cold-start/retool"])
	}
	if acc["rl/retool"] <= acc["rl/text"] {
		t.Errorf("ReTool RL %.3f is not above text-only RL %.3f", acc["rl/retool"], acc["rl/text"])
	}
	for _, f := range []string{"report.md", "plots/reward.png", "plots/code_ratio.png", "plots/tool_choice.png",
		"retool-seed1/rl/model.safetensors", "retool-seed1/rl/config.json", "retool-seed1/trajectories.jsonl", "text-seed1/metrics.jsonl"} {
		if st, err := os.Stat(filepath.Join(runDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// steps lists the step of each line of a metrics.jsonl.
func steps(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var v struct{ Step int }
		if json.Unmarshal(sc.Bytes(), &v) == nil {
			out = append(out, v.Step)
		}
	}
	return out
}

// tinyCheckpoint saves a small untrained model, enough to exercise the
// commands that load one.
func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	m, err := model.New(model.Config{HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, MaxPositionEmbeddings: 128}.Normalize(), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// retool eval --checkpoint samples from the embedded model on the train
// job's held-out tasks; retool serve --model serves it to OpenAI clients.
func TestEmbeddedModelCommands(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	ckpt := tinyCheckpoint(t)
	out := filepath.Join(c.workDir, "ev")
	c.must("eval", "--checkpoint", ckpt, "--data", "tasks:heldout", "--limit", "3", "--n", "2", "--no-symbolic", "--out", out)
	recs := readJSONL(t, filepath.Join(out, "trajectories.jsonl"))
	if len(recs) != 6 {
		t.Fatalf("%d trajectories, want 3 problems × 2", len(recs))
	}
	for _, r := range recs {
		tr, _ := r["trajectory"].(map[string]any)
		segs, _ := tr["segments"].([]any)
		if len(segs) < 2 || !strings.HasPrefix(segs[0].(map[string]any)["text"].(string), "Problem: ") {
			t.Fatalf("not a retool-mini trajectory: %v", r)
		}
	}
	if _, errOut, code := c.run("", "eval", "--checkpoint", ckpt, "--data", "tasks:nowhere"); code == 0 || !strings.Contains(errOut, "nowhere") {
		t.Errorf("unknown tasks split: %d %q", code, errOut)
	}
	if _, errOut, code := c.run("", "eval", "--checkpoint", filepath.Join(c.workDir, "missing"), "--data", "tasks:heldout"); code == 0 || !strings.Contains(errOut, "missing") {
		t.Errorf("missing checkpoint: %d %q", code, errOut)
	}

	url, _ := c.serve(t, "--model", ckpt)
	resp, err := http.Post(url+"/v1/completions", "application/json",
		strings.NewReader(`{"model": "tiny", "prompt": "Problem: 2+2?\n", "max_tokens": 8, "n": 2, "logprobs": 1, "seed": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Choices []struct {
			Logprobs struct {
				TokenLogprobs []float64 `json:"token_logprobs"`
			} `json:"logprobs"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/v1/completions: %d %v", resp.StatusCode, err)
	}
	if len(body.Choices) != 2 || len(body.Choices[0].Logprobs.TokenLogprobs) == 0 || body.Choices[0].FinishReason == "" {
		t.Errorf("completions: %+v", body)
	}
}

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}
