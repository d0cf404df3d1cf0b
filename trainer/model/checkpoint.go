package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// WeightsFile is the weights' file name in a checkpoint directory.
const WeightsFile = "model.safetensors"

// Save writes the checkpoint into dir (created if needed):
// model.safetensors, tokenizer.json and config.json, in Hugging Face's
// layout. Each file is replaced atomically and config.json comes last,
// so a run killed mid-save leaves the previous files or a directory that
// Load rejects; save each step to a fresh directory to keep every
// checkpoint whole.
func (m *Model) Save(dir string) error {
	if err := m.save(dir); err != nil {
		return fmt.Errorf("model: save checkpoint %s: %w", dir, err)
	}
	return nil
}

func (m *Model) save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := make([]namedTensor, len(m.params))
	for i, p := range m.params {
		ts[i] = namedTensor{p.name, p.shape, p.data}
	}
	if err := writeSafetensors(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("%s: %w", WeightsFile, err)
	}
	if err := m.tok.Save(dir); err != nil {
		return err
	}
	cj, err := json.MarshalIndent(m.cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, ConfigFile), append(cj, '\n')); err != nil {
		return fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return nil
}

// Load reads a checkpoint written by Save (or a float32 Llama checkpoint
// from transformers with the byte-level tokenizer). A corrupt checkpoint
// is reported in one line naming the file and the problem.
func Load(dir string) (*Model, error) {
	m, err := load(dir)
	if err != nil {
		return nil, fmt.Errorf("model: load checkpoint %s: %w", dir, err)
	}
	return m, nil
}

func load(dir string) (*Model, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > m.cfg.VocabSize {
		return nil, fmt.Errorf("%s: %d tokens, more than the config's vocab_size %d", TokenizerFile, tok.VocabSize(), m.cfg.VocabSize)
	}
	m.tok = tok
	if err := m.readWeights(filepath.Join(dir, WeightsFile)); err != nil {
		return nil, fmt.Errorf("%s: %w", WeightsFile, err)
	}
	return m, nil
}

// readWeights reads a safetensors file holding exactly the model's
// tensors, with their shapes, into the weights. On error the weights are
// unchanged.
func (m *Model) readWeights(path string) error {
	ts, _, err := readSafetensors(path)
	if err != nil {
		return err
	}
	// Check everything before copying, so that a failed load changes
	// nothing.
	for _, p := range m.params {
		name := p.name
		t, ok := ts[name]
		if !ok {
			return fmt.Errorf("missing tensor %q", name)
		}
		if !slices.Equal(t.shape, p.shape) {
			return fmt.Errorf("tensor %q has shape %v; the config wants %v", name, t.shape, p.shape)
		}
	}
	if len(ts) != len(m.params) {
		known := make(map[string]bool, len(m.params))
		for _, p := range m.params {
			known[p.name] = true
		}
		var extra []string
		for name := range ts {
			if !known[name] {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		return fmt.Errorf("unexpected tensor %q (%d not in the model; a config mismatch, such as value_head?)", extra[0], len(extra))
	}
	for _, p := range m.params {
		copy(p.data, ts[p.name].data)
	}
	return nil
}
