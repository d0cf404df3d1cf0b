package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
)

// ConfigFile is the configuration's file name in a checkpoint directory.
const ConfigFile = "config.json"

// Config is the model's shape, in the fields of Hugging Face's
// LlamaConfig (config.json) plus ValueHead. New and Load fill the zero
// optional fields (see Normalize); the sizes are required.
type Config struct {
	Architectures         []string `json:"architectures"`
	ModelType             string   `json:"model_type"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads"`
	HeadDim               int      `json:"head_dim"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             float64  `json:"rope_theta"`
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	AttentionBias         bool     `json:"attention_bias"`
	MLPBias               bool     `json:"mlp_bias"`
	TorchDtype            string   `json:"torch_dtype"`
	BOSTokenID            int      `json:"bos_token_id"`
	EOSTokenID            int      `json:"eos_token_id"`
	HiddenAct             string   `json:"hidden_act"`
	// InitializerRange is the standard deviation of the initial weights.
	InitializerRange float64 `json:"initializer_range"`
	// ValueHead adds value_head.weight [1, hidden_size], a scalar value
	// per position read from the final normed hidden state (PPO's critic).
	ValueHead bool `json:"value_head"`
}

// Normalize returns c with its zero optional fields set: the
// architecture and type names, vocab_size VocabSize, num_key_value_heads
// and head_dim from the heads, rms_norm_eps 1e-6, rope_theta 10000,
// torch_dtype float32, bos/eos 256, hidden_act silu, initializer_range
// 0.02.
func (c Config) Normalize() Config {
	if len(c.Architectures) == 0 {
		c.Architectures = []string{"LlamaForCausalLM"}
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.ModelType, "llama")
	def(&c.TorchDtype, "float32")
	def(&c.HiddenAct, "silu")
	if c.VocabSize == 0 {
		c.VocabSize = VocabSize
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.HeadDim == 0 && c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.BOSTokenID == 0 && c.EOSTokenID == 0 {
		c.BOSTokenID, c.EOSTokenID = BOS, EOS
	}
	if c.InitializerRange == 0 {
		c.InitializerRange = 0.02
	}
	return c
}

// Validate reports the first problem of the normalized configuration.
func (c Config) Validate() error {
	c = c.Normalize()
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize},
		{"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s is %d; it must be positive", f.name, f.v)
		}
	}
	switch {
	case c.ModelType != "llama":
		return fmt.Errorf("model_type %q is not supported (only llama)", c.ModelType)
	case c.HiddenAct != "silu":
		return fmt.Errorf("hidden_act %q is not supported (only silu)", c.HiddenAct)
	case c.TorchDtype != "float32":
		return fmt.Errorf("torch_dtype %q is not supported (only float32)", c.TorchDtype)
	case c.TieWordEmbeddings:
		return errors.New("tie_word_embeddings is not supported (lm_head has its own weights)")
	case c.AttentionBias || c.MLPBias:
		return errors.New("attention_bias and mlp_bias are not supported (the model has no biases)")
	case c.VocabSize < VocabSize:
		return fmt.Errorf("vocab_size %d is smaller than the tokenizer's %d", c.VocabSize, VocabSize)
	case c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	case c.HeadDim != c.HiddenSize/c.NumAttentionHeads:
		return fmt.Errorf("head_dim %d is not hidden_size/num_attention_heads = %d", c.HeadDim, c.HiddenSize/c.NumAttentionHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("head dim %d (hidden_size/num_attention_heads) is odd; rotary embeddings need it even", c.HeadDim)
	case c.NumKeyValueHeads != c.NumAttentionHeads:
		return fmt.Errorf("num_key_value_heads %d differs from num_attention_heads %d: grouped-query attention is not supported", c.NumKeyValueHeads, c.NumAttentionHeads)
	case !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0):
		return fmt.Errorf("rms_norm_eps %g must be positive", c.RMSNormEps)
	case !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0):
		return fmt.Errorf("rope_theta %g must be positive", c.RopeTheta)
	case !(c.InitializerRange > 0) || math.IsInf(c.InitializerRange, 0):
		return fmt.Errorf("initializer_range %g must be positive", c.InitializerRange)
	case c.BOSTokenID != BOS || c.EOSTokenID != EOS:
		return fmt.Errorf("bos_token_id/eos_token_id %d/%d, want %d/%d (the tokenizer's <|endoftext|>)", c.BOSTokenID, c.EOSTokenID, BOS, EOS)
	}
	// Guard the products below (and allocation sizes) against overflow.
	if n := c.numParams(); n > 1<<34 {
		return fmt.Errorf("%d parameters is far beyond what a CPU can train", n)
	}
	return nil
}

// NumParams is the number of parameters of a model with this config.
func (c Config) NumParams() int {
	return int(c.Normalize().numParams())
}

func (c Config) numParams() int64 {
	d, f, v, l := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize), int64(c.NumHiddenLayers)
	n := 2*v*d + d + l*(2*d+4*d*d+3*d*f)
	if c.ValueHead {
		n += d
	}
	return n
}

// MemoryBytes estimates the bytes a training step over batch sequences
// of seqLen tokens needs: weights, gradients (one buffer per data-parallel
// worker), AdamW's two moments, each worker's activations and backward
// scratch, and the rotary tables. Workers are min(batch, GOMAXPROCS), as
// Accumulate uses. A frozen reference model (Clone) adds 4·NumParams.
func (c Config) MemoryBytes(batch, seqLen int) int64 {
	c = c.Normalize()
	workers := int64(max(1, min(batch, runtime.GOMAXPROCS(0))))
	p := c.numParams()
	floats := p /*weights*/ + workers*p /*grads*/ + 2*p /*AdamW*/ +
		workers*int64(seqLen)*c.workerFloatsPerToken() + int64(c.MaxPositionEmbeddings)*int64(c.HeadDim) /*rotary tables*/
	return 4 * floats
}

// workerFloatsPerToken is what worker.size allocates per token: per
// layer the residual input and mid-point, two normed inputs, q, k, v and
// the attention output, the MLP's gate and up, two inverse RMS and one
// log-sum-exp per head; then the final state, its norm, logits and
// probabilities; then the backward's scratch (the selected positions'
// ints counted as two floats).
func (c Config) workerFloatsPerToken() int64 {
	d, f, v, l, h := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize), int64(c.NumHiddenLayers), int64(c.NumAttentionHeads)
	return l*(8*d+2*f+h+2) + (2*d + 1 + 2*v) + (10*d + 4*f + v + 2 + 2*int64(attnBlockRows))
}

// readConfig reads dir/config.json; it does not validate it.
func readConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("%s: bad JSON: %w", ConfigFile, err)
	}
	return c, nil
}
