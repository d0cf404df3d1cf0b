package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// trainedPair returns a model and its optimizer after a few steps, so that
// weights and moments are all non-trivial.
func trainedPair(t *testing.T) (*Model, *AdamW, [][]int) {
	t.Helper()
	m := newModelT(t, tinyConfig(true), 21)
	opt, err := NewAdamW(m, AdamWConfig{LR: 1e-3, WeightDecay: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(22, 22))
	seqs := randomSeqs(rng, 3, 5, 12, VocabSize)
	lw := randomWeights(rng, seqs, true)
	for range 3 {
		m.ZeroGrad()
		if err := m.Accumulate(seqs, lw.grads); err != nil {
			t.Fatal(err)
		}
		opt.Step(1e-3)
	}
	return m, opt, seqs
}

func TestCheckpointRoundTrip(t *testing.T) {
	m, opt, seqs := trainedPair(t)
	dir := filepath.Join(t.TempDir(), "step-3")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := opt.Save(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{ConfigFile, WeightsFile, OptimizerFile, TokenizerFile}; len(names) != len(want) {
		t.Errorf("checkpoint files %v, want %v (no temporaries left)", names, want)
	}

	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config(), m.Config()) {
		t.Errorf("config %+v, want %+v", got.Config(), m.Config())
	}
	for i, p := range m.params {
		if !equalFloats(p.data, got.params[i].data) {
			t.Fatalf("%s differs after the round trip", p.name)
		}
	}
	want, _ := m.Forward(seqs)
	have, _ := got.Forward(seqs)
	if !reflect.DeepEqual(want, have) {
		t.Error("outputs differ after the round trip")
	}

	opt2, err := NewAdamW(got, opt.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := opt2.Load(dir); err != nil {
		t.Fatal(err)
	}
	if opt2.Steps() != 3 {
		t.Errorf("restored step %d, want 3", opt2.Steps())
	}
	for i := range opt.exp {
		if !equalFloats(opt.exp[i], opt2.exp[i]) || !equalFloats(opt.sq[i], opt2.sq[i]) {
			t.Fatalf("moments of %s differ after the round trip", m.params[i].name)
		}
	}
	// Resuming gives the very next step the uninterrupted run takes.
	lw := randomWeights(rand.New(rand.NewPCG(5, 5)), seqs, true)
	for _, pair := range []struct {
		m *Model
		o *AdamW
	}{{m, opt}, {got, opt2}} {
		pair.m.workers = 1
		pair.m.ZeroGrad()
		if err := pair.m.Accumulate(seqs, lw.grads); err != nil {
			t.Fatal(err)
		}
		pair.o.Step(1e-3)
	}
	for i, p := range m.params {
		if !equalFloats(p.data, got.params[i].data) {
			t.Fatalf("%s differs after one more step from the resumed state", p.name)
		}
	}

	// The weights file is valid safetensors in HF's layout.
	data, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
	n := binary.LittleEndian.Uint64(data)
	if (8+n)%8 != 0 {
		t.Errorf("header length %d leaves the data unaligned", n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"__metadata__", "model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "lm_head.weight", "value_head.weight"} {
		if _, ok := header[name]; !ok {
			t.Errorf("header has no %q", name)
		}
	}
	if got := string(header["model.layers.0.mlp.gate_proj.weight"]); !strings.Contains(got, `"shape":[24,16]`) || !strings.Contains(got, `"dtype":"F32"`) {
		t.Errorf("gate_proj entry %s, want F32 [24,16]", got)
	}
	cj, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	for _, field := range []string{`"LlamaForCausalLM"`, `"model_type": "llama"`, `"num_key_value_heads": 2`, `"tie_word_embeddings": false`, `"torch_dtype": "float32"`, `"value_head": true`, `"hidden_act": "silu"`} {
		if !bytes.Contains(cj, []byte(field)) {
			t.Errorf("config.json lacks %s:\n%s", field, cj)
		}
	}
}

// rewriteSafetensors replaces a safetensors file's header and data.
func rewriteSafetensors(t *testing.T, path string, edit func(header map[string]any, data []byte) []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	var header map[string]any
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	data := edit(header, raw[8+n:])
	hj, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hj)))
	out = append(append(out, hj...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func entry(h map[string]any, name string) map[string]any { return h[name].(map[string]any) }

func TestLoadCorrupt(t *testing.T) {
	m, opt, _ := trainedPair(t)
	good := t.TempDir()
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	if err := opt.Save(good); err != nil {
		t.Fatal(err)
	}
	weights := func(dir string) string { return filepath.Join(dir, WeightsFile) }
	tests := []struct {
		name      string
		corrupt   func(t *testing.T, dir string)
		file      string
		want      string
		optimizer bool // the optimizer's Load, not the model's
	}{
		{"truncated", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(weights(dir))
			os.WriteFile(weights(dir), data[:len(data)-100], 0o644)
		}, WeightsFile, "truncated or offsets out of range: the tensors need 51968 data bytes, the file has 51868", false},
		{"no header length", func(t *testing.T, dir string) {
			os.WriteFile(weights(dir), []byte{1, 2, 3}, 0o644)
		}, WeightsFile, "truncated: 3 bytes", false},
		{"truncated header", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(weights(dir))
			os.WriteFile(weights(dir), data[:100], 0o644)
		}, WeightsFile, "truncated: the header says", false},
		{"bad header JSON", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(weights(dir))
			data[8] = '['
			os.WriteFile(weights(dir), data, 0o644)
		}, WeightsFile, "bad header JSON", false},
		{"wrong dtype", func(t *testing.T, dir string) {
			rewriteSafetensors(t, weights(dir), func(h map[string]any, d []byte) []byte {
				entry(h, "model.norm.weight")["dtype"] = "BF16"
				return d
			})
		}, WeightsFile, `"model.norm.weight" has dtype "BF16"`, false},
		{"shape mismatch", func(t *testing.T, dir string) {
			rewriteSafetensors(t, weights(dir), func(h map[string]any, d []byte) []byte {
				entry(h, "model.layers.0.mlp.up_proj.weight")["shape"] = []int{16, 24}
				return d
			})
		}, WeightsFile, `"model.layers.0.mlp.up_proj.weight" has shape [16 24]; the config wants [24 16]`, false},
		{"config mismatch", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			data = bytes.Replace(data, []byte(`"intermediate_size": 24`), []byte(`"intermediate_size": 32`), 1)
			os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644)
		}, WeightsFile, "the config wants [32 16]", false},
		{"missing tensor", func(t *testing.T, dir string) {
			rewriteSafetensors(t, weights(dir), func(h map[string]any, d []byte) []byte {
				delete(h, "model.layers.1.self_attn.k_proj.weight")
				return d
			})
		}, WeightsFile, `missing tensor "model.layers.1.self_attn.k_proj.weight"`, false},
		{"unexpected tensor", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			data = bytes.Replace(data, []byte(`"value_head": true`), []byte(`"value_head": false`), 1)
			os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644)
		}, WeightsFile, `unexpected tensor "value_head.weight"`, false},
		{"offsets out of range", func(t *testing.T, dir string) {
			rewriteSafetensors(t, weights(dir), func(h map[string]any, d []byte) []byte {
				entry(h, "lm_head.weight")["data_offsets"] = []int{len(d), len(d) + 267*16*4}
				return d
			})
		}, WeightsFile, "offsets out of range", false},
		{"offsets disagree with shape", func(t *testing.T, dir string) {
			rewriteSafetensors(t, weights(dir), func(h map[string]any, d []byte) []byte {
				entry(h, "model.norm.weight")["data_offsets"] = []int{0, 8}
				return d
			})
		}, WeightsFile, "needs 64", false},
		{"NaN weight", func(t *testing.T, dir string) {
			m2 := m.Clone()
			m2.layers[1].o.data[5] = float32(math.NaN())
			if err := m2.Save(dir); err != nil {
				t.Fatal(err)
			}
		}, WeightsFile, `"model.layers.1.self_attn.o_proj.weight": element 5 is NaN`, false},
		{"infinite weight", func(t *testing.T, dir string) {
			m2 := m.Clone()
			m2.norm.data[0] = float32(math.Inf(-1))
			if err := m2.Save(dir); err != nil {
				t.Fatal(err)
			}
		}, WeightsFile, "is -Inf", false},
		{"no config", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ConfigFile))
		}, ConfigFile, "no such file", false},
		{"bad config", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"hidden_size": "big"}`), 0o644)
		}, ConfigFile, "bad JSON", false},
		{"invalid config", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			data = bytes.Replace(data, []byte(`"num_attention_heads": 2`), []byte(`"num_attention_heads": 3`), 1)
			os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644)
		}, ConfigFile, "not divisible", false},
		{"no tokenizer", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, TokenizerFile))
		}, TokenizerFile, "no such file", false},
		{"optimizer truncated", func(t *testing.T, dir string) {
			p := filepath.Join(dir, OptimizerFile)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-1], 0o644)
		}, OptimizerFile, "out of range", true},
		{"optimizer without step", func(t *testing.T, dir string) {
			rewriteSafetensors(t, filepath.Join(dir, OptimizerFile), func(h map[string]any, d []byte) []byte {
				delete(h, "__metadata__")
				return d
			})
		}, OptimizerFile, `no "step"`, true},
		{"optimizer missing moment", func(t *testing.T, dir string) {
			rewriteSafetensors(t, filepath.Join(dir, OptimizerFile), func(h map[string]any, d []byte) []byte {
				delete(h, "lm_head.weight.exp_avg_sq")
				return d
			})
		}, OptimizerFile, `missing tensor "lm_head.weight.exp_avg_sq"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{ConfigFile, WeightsFile, TokenizerFile, OptimizerFile} {
				data, err := os.ReadFile(filepath.Join(good, f))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, f), data, 0o644)
			}
			tt.corrupt(t, dir)
			var err error
			if tt.optimizer {
				o, _ := NewAdamW(m.Clone(), AdamWConfig{})
				err = o.Load(dir)
				if err != nil && (o.Steps() != 0 || o.exp[0][0] != 0) {
					t.Error("a failed Load changed the optimizer")
				}
			} else {
				_, err = Load(dir)
			}
			if err == nil {
				t.Fatal("loaded a corrupt checkpoint")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, tt.file) || !strings.Contains(msg, dir) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q; want one line naming %s, %s and %q", msg, dir, tt.file, tt.want)
			}
		})
	}
}

func TestAdamW(t *testing.T) {
	// One step on a known gradient: with bias correction the first step
	// moves each weight by lr·sign(g) (less eps), plus decay except on
	// norm weights.
	m := newModelT(t, tinyConfig(false), 1)
	before := m.Clone()
	opt, err := NewAdamW(m, AdamWConfig{WeightDecay: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	m.ZeroGrad()
	for _, g := range m.grads {
		for i := range g {
			g[i] = float32(i%3) - 1 // −1, 0, 1
		}
	}
	const lr = 0.01
	opt.Step(lr)
	for pi, p := range m.params {
		for i, w := range p.data {
			w0 := before.params[pi].data[i]
			g := float64(m.grads[pi][i])
			want := float64(w0)
			if p.decay {
				want *= 1 - lr*0.5
			}
			if g != 0 {
				want -= lr * math.Copysign(1, g)
			}
			if math.Abs(float64(w)-want) > 1e-6 {
				t.Fatalf("%s[%d] = %g after one step, want %g", p.name, i, w, want)
			}
		}
	}
	for _, cfg := range []AdamWConfig{{Beta1: 1}, {Beta2: -0.1}, {Eps: -1}, {WeightDecay: -1}, {LR: math.NaN()}} {
		if _, err := NewAdamW(m, cfg); err == nil {
			t.Errorf("NewAdamW(%+v) accepted", cfg)
		}
	}
}
