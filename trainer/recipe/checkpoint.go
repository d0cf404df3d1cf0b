package recipe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/retool-rl/retool/trainer/model"
)

// A checkpoint is a directory: the model (safetensors, config.json,
// tokenizer.json), the optimizer's state and state.json. It is written
// beside the current one and swapped in by renames, so that a run killed
// at any moment finds either the old checkpoint or the new one, whole.

// ckptState is a checkpoint's progress.
type ckptState struct {
	Step int `json:"step"`
}

const stateFile = "state.json"

// saveCheckpoint writes m, opt and st to dir.
func saveCheckpoint(dir string, m *model.Model, opt *model.AdamW, st ckptState) error {
	tmp, old := dir+".new", dir+".old"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := m.Save(tmp); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if opt != nil {
		if err := opt.Save(tmp); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(tmp, stateFile), st); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return os.RemoveAll(old)
}

// loadCheckpoint reads the checkpoint at dir (or the one a killed swap
// left at dir.old). ok is false when there is none; a checkpoint that is
// there but unreadable is an error, never silently replaced.
func loadCheckpoint(dir string, optCfg model.AdamWConfig) (m *model.Model, opt *model.AdamW, st ckptState, ok bool, err error) {
	path := dir
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		path = dir + ".old"
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, st, false, nil
		}
	}
	if err := readJSON(filepath.Join(path, stateFile), &st); err != nil {
		return nil, nil, st, false, fmt.Errorf("resume from %s: %w", path, err)
	}
	if m, err = model.Load(path); err != nil {
		return nil, nil, st, false, fmt.Errorf("resume from %s: %w", path, err)
	}
	if opt, err = model.NewAdamW(m, optCfg); err != nil {
		return nil, nil, st, false, err
	}
	if err := opt.Load(path); err != nil {
		return nil, nil, st, false, fmt.Errorf("resume from %s: %w", path, err)
	}
	return m, opt, st, true, nil
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
