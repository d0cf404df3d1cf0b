package model

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
)

// OptimizerFile is the optimizer state's file name in a checkpoint
// directory.
const OptimizerFile = "optimizer.safetensors"

// AdamWConfig sets AdamW's hyperparameters. Zero Beta1, Beta2 and Eps take
// PyTorch's defaults (0.9, 0.999, 1e-8); WeightDecay is used as given.
type AdamWConfig struct {
	// LR is the base learning rate, for the caller's schedule: Step takes
	// each step's rate.
	LR          float64
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64
}

// AdamW is the AdamW optimizer (decoupled weight decay, bias-corrected
// moments) over a model's parameters. Norm weights get no weight decay.
type AdamW struct {
	m       *Model
	cfg     AdamWConfig
	step    int64
	exp, sq [][]float32 // first and second moments, per parameter
}

// NewAdamW returns an optimizer for m's parameters with zero moments.
func NewAdamW(m *Model, cfg AdamWConfig) (*AdamW, error) {
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	switch {
	case !(cfg.Beta1 >= 0 && cfg.Beta1 < 1) || !(cfg.Beta2 >= 0 && cfg.Beta2 < 1):
		return nil, fmt.Errorf("model: adamw: betas %g, %g must be in [0, 1)", cfg.Beta1, cfg.Beta2)
	case !(cfg.Eps > 0):
		return nil, fmt.Errorf("model: adamw: eps %g must be positive", cfg.Eps)
	case !(cfg.WeightDecay >= 0) || math.IsInf(cfg.WeightDecay, 0):
		return nil, fmt.Errorf("model: adamw: weight decay %g must be finite and non-negative", cfg.WeightDecay)
	case !(cfg.LR >= 0) || math.IsInf(cfg.LR, 0):
		return nil, fmt.Errorf("model: adamw: learning rate %g must be finite and non-negative", cfg.LR)
	}
	o := &AdamW{m: m, cfg: cfg, exp: make([][]float32, len(m.params)), sq: make([][]float32, len(m.params))}
	for i, p := range m.params {
		o.exp[i] = make([]float32, len(p.data))
		o.sq[i] = make([]float32, len(p.data))
	}
	return o, nil
}

// Config returns the hyperparameters, defaults filled.
func (o *AdamW) Config() AdamWConfig { return o.cfg }

// Steps is the number of steps taken (restored by Load).
func (o *AdamW) Steps() int64 { return o.step }

// Step updates the weights from the model's gradients with learning rate
// lr. It does not clear the gradients, nor check them: skip the step when
// ClipGradNorm reports a NaN or infinite norm. Nothing may use the model during
// the step; KV caches made before it are discarded on their next use.
func (o *AdamW) Step(lr float64) {
	m := o.m
	m.ensureGrads()
	o.step++
	b1, b2 := o.cfg.Beta1, o.cfg.Beta2
	c1 := 1 - math.Pow(b1, float64(o.step))
	c2 := 1 - math.Pow(b2, float64(o.step))
	// w -= lr·(m/c1)/(sqrt(v/c2)+eps) = lr/c1 · m/(sqrt(v)/sqrt(c2)+eps),
	// computed per element in float32 with the constants folded.
	stepSize := float32(lr / c1)
	invSqrtC2 := float32(1 / math.Sqrt(c2))
	eps := float32(o.cfg.Eps)
	fb1, fb2 := float32(b1), float32(b2)
	for i, p := range m.params {
		w, g, e, s := p.data, m.grads[i], o.exp[i], o.sq[i]
		decay := float32(1)
		if p.decay {
			decay = float32(1 - lr*o.cfg.WeightDecay)
		}
		for j, gj := range g {
			e[j] = fb1*e[j] + (1-fb1)*gj
			s[j] = fb2*s[j] + (1-fb2)*gj*gj
			denom := float32(math.Sqrt(float64(s[j])))*invSqrtC2 + eps
			w[j] = w[j]*decay - stepSize*e[j]/denom
		}
	}
	m.version.Add(1)
}

// Save writes the moments and the step count to dir/optimizer.safetensors
// (atomically), as "<parameter>.exp_avg" and "<parameter>.exp_avg_sq".
func (o *AdamW) Save(dir string) error {
	ts := make([]namedTensor, 0, 2*len(o.m.params))
	for i, p := range o.m.params {
		ts = append(ts,
			namedTensor{p.name + ".exp_avg", p.shape, o.exp[i]},
			namedTensor{p.name + ".exp_avg_sq", p.shape, o.sq[i]})
	}
	meta := map[string]string{
		"format": "pt", "step": strconv.FormatInt(o.step, 10),
		"lr":    fmtFloat(o.cfg.LR),
		"beta1": fmtFloat(o.cfg.Beta1), "beta2": fmtFloat(o.cfg.Beta2),
		"eps": fmtFloat(o.cfg.Eps), "weight_decay": fmtFloat(o.cfg.WeightDecay),
	}
	if err := writeSafetensors(filepath.Join(dir, OptimizerFile), ts, meta); err != nil {
		return fmt.Errorf("model: save optimizer %s: %w", dir, err)
	}
	return nil
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Load restores the moments and the step count from
// dir/optimizer.safetensors; the hyperparameters stay those given to
// NewAdamW. On error the optimizer is unchanged.
func (o *AdamW) Load(dir string) error {
	if err := o.load(dir); err != nil {
		return fmt.Errorf("model: load optimizer %s: %s: %w", dir, OptimizerFile, err)
	}
	return nil
}

func (o *AdamW) load(dir string) error {
	exp := make([][]float32, len(o.m.params))
	sq := make([][]float32, len(o.m.params))
	for i, p := range o.m.params {
		exp[i] = make([]float32, len(p.data))
		sq[i] = make([]float32, len(p.data))
	}
	// Fill fresh buffers and swap them in at the end, so that a failed
	// load leaves the optimizer as it was.
	path := filepath.Join(dir, OptimizerFile)
	ts, meta, err := readSafetensors(path)
	if err != nil {
		return err
	}
	for i, p := range o.m.params {
		for _, pair := range []struct {
			suffix string
			dst    []float32
		}{{".exp_avg", exp[i]}, {".exp_avg_sq", sq[i]}} {
			name := p.name + pair.suffix
			t, ok := ts[name]
			if !ok {
				return fmt.Errorf("missing tensor %q", name)
			}
			if !slices.Equal(t.shape, p.shape) {
				return fmt.Errorf("tensor %q has shape %v; the model wants %v", name, t.shape, p.shape)
			}
			copy(pair.dst, t.data)
		}
	}
	if len(ts) != 2*len(o.m.params) {
		return fmt.Errorf("%d tensors, the model's state has %d", len(ts), 2*len(o.m.params))
	}
	for i := range sq {
		for _, v := range sq[i] {
			if v < 0 {
				return errors.New("a second moment is negative")
			}
		}
	}
	step, err := metaInt(meta, "step")
	if err != nil {
		return err
	}
	if step < 0 {
		return fmt.Errorf("step %d is negative", step)
	}
	o.exp, o.sq, o.step = exp, sq, step
	return nil
}
