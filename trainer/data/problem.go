package data

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Problem is one question with its ground truth.
type Problem struct {
	// ID is stable across runs: the set's name plus the file's id field, or
	// plus the record's position when no id field is mapped. It is unique
	// within a load: a row whose id repeats an earlier one (aime2024_dapo
	// holds every problem 32 times) gets the suffix "#k", k = 1, 2, …
	ID string
	// Group is the ID without the repeat suffix: rows that are copies of one
	// problem share it. Split keeps a group on one side.
	Group string
	// Prompt is the question text; for a chat (verl layout) the content of
	// the last user message.
	Prompt string
	// Messages is the full chat; for JSONL sets a single user message.
	Messages []Message
	// Answer is the ground truth exactly as the file has it (JSON numbers as
	// written, "70"; GSM8K the text after "#### " with commas kept).
	Answer string
	// Source is the record's data_source, or the set's name.
	Source string
	// Meta holds extra fields (level, subject, unique_id, solution, …).
	Meta map[string]string
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Mapping tells a loader where a record keeps each field. Paths are dotted
// for nesting ("reward_model.ground_truth"); a numeric segment indexes a list
// ("prompt.0.content").
type Mapping struct {
	// Name of the set: the ID prefix and the Source when no Source field is
	// mapped. Default: the file's base name without its extension.
	Name string `json:"name,omitempty" hcl:"name,optional"`
	// ID field; empty: the record's 0-based position in the file.
	ID string `json:"id,omitempty" hcl:"id,optional"`
	// Prompt field (a string). Empty: the last user message of Messages.
	Prompt string `json:"prompt,omitempty" hcl:"prompt,optional"`
	// Answer field (string or number). Required.
	Answer string `json:"answer,omitempty" hcl:"answer,optional"`
	// AnswerAfter, when set, keeps only the trimmed text after the last
	// occurrence of this marker in the answer field (GSM8K: "####").
	AnswerAfter string `json:"answer_after,omitempty" hcl:"answer_after,optional"`
	// Messages field: a list of {role, content} (a string is taken as one
	// user message). Empty: a single user message holding the prompt.
	Messages string `json:"messages,omitempty" hcl:"messages,optional"`
	// Source field; empty: Name.
	Source string `json:"source,omitempty" hcl:"source,optional"`
	// Meta maps a Meta key to a field path; missing fields are left out.
	Meta map[string]string `json:"meta,omitempty" hcl:"meta,optional"`
}

// VerlMapping reads verl's RL layout (as in DAPO-Math-17k).
var VerlMapping = Mapping{
	ID:       "extra_info.index",
	Messages: "prompt",
	Answer:   "reward_model.ground_truth",
	Source:   "data_source",
	Meta: map[string]string{
		"index":   "extra_info.index",
		"ability": "ability",
		"style":   "reward_model.style",
		"split":   "extra_info.split",
	},
}

// IsZero reports whether no field is mapped (loaders then guess the layout).
func (m Mapping) IsZero() bool {
	return m.ID == "" && m.Prompt == "" && m.Answer == "" && m.Messages == "" &&
		m.Source == "" && m.AnswerAfter == "" && len(m.Meta) == 0
}

func (m Mapping) validate() error {
	if m.Answer == "" {
		return errors.New("mapping has no answer field")
	}
	if m.Prompt == "" && m.Messages == "" {
		return errors.New("mapping has neither a prompt nor a messages field")
	}
	return nil
}

// LoadOptions tune a load.
type LoadOptions struct {
	// SkipInvalid skips (and counts) lines that are not JSON and records
	// missing a mapped field instead of failing on the first one.
	SkipInvalid bool
	// OnSkip, if set, is called with the reason for every skipped record.
	OnSkip func(err error)
}

// RecordError is a problem with one record: File:Line (the row, 1-based,
// for Parquet) and, for a missing or unusable field, its name.
type RecordError struct {
	File  string
	Line  int
	Row   bool   // Line counts Parquet rows, not text lines
	Field string // mapped field path, if the error concerns one
	Err   error
}

func (e *RecordError) Error() string {
	where := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.Row {
		where = fmt.Sprintf("%s: row %d", e.File, e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("data: %s: field %q: %v", where, e.Field, e.Err)
	}
	return fmt.Sprintf("data: %s: %v", where, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// ErrMissingField is wrapped by errors about a mapped field that a record
// lacks (or holds null or an empty string).
var ErrMissingField = errors.New("missing")

// Load reads a file by its extension: .jsonl/.ndjson or .parquet. A zero
// Mapping is guessed (verl's layout for Parquet; common field names for JSONL).
func Load(path string, m Mapping) ([]Problem, error) {
	ps, _, err := LoadWith(path, m, LoadOptions{})
	return ps, err
}

// LoadJSONL reads one JSON object per line; blank lines are ignored.
func LoadJSONL(path string, m Mapping) ([]Problem, error) {
	ps, _, err := loadJSONL(path, m, LoadOptions{})
	return ps, err
}

// LoadParquet reads a Parquet file, nested lists and structs included.
func LoadParquet(path string, m Mapping) ([]Problem, error) {
	ps, _, err := loadParquet(path, m, LoadOptions{})
	return ps, err
}

// LoadWith is Load with options; it also returns how many records were
// skipped (always 0 unless opt.SkipInvalid).
func LoadWith(path string, m Mapping, opt LoadOptions) (ps []Problem, skipped int, err error) {
	switch formatOf(path) {
	case "jsonl":
		return loadJSONL(path, m, opt)
	case "parquet":
		return loadParquet(path, m, opt)
	}
	return nil, 0, fmt.Errorf("data: %s: unknown format (want .jsonl, .ndjson or .parquet)", path)
}

func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson":
		return "jsonl"
	case ".parquet", ".pq":
		return "parquet"
	}
	return ""
}

func defaultName(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}
