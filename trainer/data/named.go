package data

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// EnvDataDir names the environment variable that overrides the data dir.
const EnvDataDir = "RETOOL_DATA_DIR"

// Set is a named data set: a file in the data dir and its mapping.
type Set struct {
	Name    string
	File    string // relative to the data dir, or absolute
	Mapping Mapping
	Records int // expected record count, 0 if unknown
}

var (
	setsMu sync.RWMutex
	sets   = map[string]Set{}
)

func init() {
	qa := func(name, file, id, prompt string, records int, meta map[string]string) Set {
		return Set{Name: name, File: file, Records: records, Mapping: Mapping{
			Name: name, ID: id, Prompt: prompt, Answer: "answer", Meta: meta,
		}}
	}
	verl := func(name, file string, records int, extra map[string]string) Set {
		m := VerlMapping
		m.Name = name
		m.Meta = maps.Clone(VerlMapping.Meta)
		maps.Copy(m.Meta, extra)
		return Set{Name: name, File: file, Records: records, Mapping: m}
	}
	gsm := qa("gsm8k", "gsm8k_test.jsonl", "", "question", 1319, map[string]string{"solution": "answer"})
	gsm.Mapping.AnswerAfter = "####"
	for _, s := range []Set{
		qa("aime2024", "aime2024.jsonl", "id", "problem", 30, map[string]string{"solution": "solution", "url": "url"}),
		qa("aime2025", "aime2025.jsonl", "id", "problem", 30, nil),
		qa("math500", "math500.jsonl", "unique_id", "problem", 500, map[string]string{
			"level": "level", "subject": "subject", "unique_id": "unique_id", "solution": "solution",
		}),
		gsm,
		verl("dapo17k", "dapo_math_17k.parquet", 17917, nil),
		verl("aime2024_dapo", "aime2024_dapo.parquet", 960, map[string]string{"raw_problem": "extra_info.raw_problem"}),
	} {
		Register(s)
	}
}

// Register adds or replaces a named set (for sets declared in config).
func Register(s Set) {
	if s.Mapping.Name == "" {
		s.Mapping.Name = s.Name
	}
	setsMu.Lock()
	defer setsMu.Unlock()
	sets[s.Name] = s
}

// Lookup returns a named set.
func Lookup(name string) (Set, bool) {
	setsMu.RLock()
	defer setsMu.RUnlock()
	s, ok := sets[name]
	return s, ok
}

// Names lists the named sets, sorted.
func Names() []string {
	setsMu.RLock()
	defer setsMu.RUnlock()
	return slices.Sorted(maps.Keys(sets))
}

// DataDir resolves the data dir: dir if set, else $RETOOL_DATA_DIR, else
// ../shared/data beside the repository root (the nearest ancestor of the
// working directory holding go.mod), else ../shared/data from the working
// directory.
func DataDir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv(EnvDataDir); env != "" {
		return env
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return filepath.Join(filepath.Dir(d), "shared", "data")
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return filepath.Join("..", "shared", "data")
}

// Path is the file of a named set in the data dir (see DataDir).
func (s Set) Path(dataDir string) string {
	if filepath.IsAbs(s.File) {
		return s.File
	}
	return filepath.Join(DataDir(dataDir), s.File)
}

// Named loads a named set (see Names) from dataDir ("" = DataDir's default).
func Named(name, dataDir string) ([]Problem, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("data: unknown set %q (known: %v)", name, Names())
	}
	path := s.Path(dataDir)
	ps, err := Load(path, s.Mapping)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("data: set %q: %s not found (give a data dir or set $%s): %w", name, path, EnvDataDir, os.ErrNotExist)
		}
		return nil, err
	}
	return ps, nil
}

// Resolve loads spec as a named set if it is one, else as a file path with
// mapping m (a zero m is guessed from the first record).
func Resolve(spec, dataDir string, m Mapping) ([]Problem, error) {
	if _, ok := Lookup(spec); ok {
		if _, err := os.Stat(spec); err != nil {
			return Named(spec, dataDir)
		}
	}
	return Load(spec, m)
}
