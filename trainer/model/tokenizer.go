package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Token ids of the byte-level tokenizer: ids 0–255 are the bytes, then the
// special tokens below. EOS also serves as BOS (prepended to prompts).
const (
	EOS              = 256 // "<|endoftext|>"
	BOS              = EOS
	CodeStart        = 257 // "<code>"
	CodeEnd          = 258 // "</code>"
	InterpreterStart = 259 // "<interpreter>"
	InterpreterEnd   = 260 // "</interpreter>"
	AnswerStart      = 261 // "<answer>"
	AnswerEnd        = 262 // "</answer>"
	FencePython      = 263 // "```python"
	FenceSympy       = 264 // "```sympy"
	Fence            = 265 // "```"
	Boxed            = 266 // "\boxed{"

	// VocabSize is the size of the standard tokenizer's vocabulary.
	VocabSize = 267
)

// TokenizerFile is the tokenizer's file name in a checkpoint directory.
const TokenizerFile = "tokenizer.json"

// specialTokens are the texts of ids 256, 257, … in order.
var specialTokens = []string{
	"<|endoftext|>",
	"<code>", "</code>",
	"<interpreter>", "</interpreter>",
	"<answer>", "</answer>",
	"```python", "```sympy", "```",
	`\boxed{`,
}

// Tokenizer is a byte-level tokenizer with special tokens: Encode takes,
// at each position, the longest special token that matches there, else
// the byte. It is immutable and safe for concurrent use.
type Tokenizer struct {
	specials []string
	// byFirst lists, per first byte, the ids of the special tokens that
	// start with it, longest first, so that Encode tries few candidates.
	byFirst [256][]int
}

// NewTokenizer returns the standard tokenizer (VocabSize tokens).
func NewTokenizer() *Tokenizer {
	t, err := newTokenizer(specialTokens)
	if err != nil {
		panic(err) // the built-in list is valid
	}
	return t
}

func newTokenizer(specials []string) (*Tokenizer, error) {
	if len(specials) == 0 || specials[0] != specialTokens[0] {
		return nil, fmt.Errorf("the first special token (id %d, EOS) must be %q", EOS, specialTokens[0])
	}
	t := &Tokenizer{specials: append([]string(nil), specials...)}
	seen := make(map[string]bool, len(specials))
	for i, s := range specials {
		if s == "" {
			return nil, fmt.Errorf("special token %d is empty", 256+i)
		}
		if seen[s] {
			return nil, fmt.Errorf("special token %q appears twice", s)
		}
		seen[s] = true
		t.byFirst[s[0]] = append(t.byFirst[s[0]], 256+i)
	}
	for _, ids := range t.byFirst {
		slices.SortStableFunc(ids, func(a, b int) int { return len(t.specials[b-256]) - len(t.specials[a-256]) })
	}
	return t, nil
}

// VocabSize is 256 plus the number of special tokens.
func (t *Tokenizer) VocabSize() int { return 256 + len(t.specials) }

// Special returns the special tokens' texts, ids 256 onwards.
func (t *Tokenizer) Special() []string { return append([]string(nil), t.specials...) }

// Encode turns text into token ids. No BOS is added.
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text))
	for i := 0; i < len(text); {
		id, n := int(text[i]), 1
		for _, s := range t.byFirst[text[i]] {
			if sp := t.specials[s-256]; strings.HasPrefix(text[i:], sp) {
				id, n = s, len(sp)
				break
			}
		}
		ids = append(ids, id)
		i += n
	}
	return ids
}

// Decode turns ids back into text: bytes as they are (a token sequence
// may end inside a UTF-8 character), special tokens as their text, ids
// outside the vocabulary as U+FFFD.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		t.appendText(&b, id)
	}
	return b.String()
}

func (t *Tokenizer) appendText(b *strings.Builder, id int) {
	switch {
	case id >= 0 && id < 256:
		b.WriteByte(byte(id))
	case id >= 256 && id < t.VocabSize():
		b.WriteString(t.specials[id-256])
	default:
		b.WriteRune('\uFFFD')
	}
}

// tokenizerJSON is tokenizer.json: our own small format, enough for
// another program to rebuild the tokenizer.
type tokenizerJSON struct {
	Type          string         `json:"type"`
	ByteTokens    int            `json:"byte_tokens"`
	SpecialTokens []specialToken `json:"special_tokens"`
	BOSTokenID    int            `json:"bos_token_id"`
	EOSTokenID    int            `json:"eos_token_id"`
}

type specialToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
}

const tokenizerType = "byte-level"

// Save writes dir/tokenizer.json atomically.
func (t *Tokenizer) Save(dir string) error {
	j := tokenizerJSON{Type: tokenizerType, ByteTokens: 256, BOSTokenID: BOS, EOSTokenID: EOS}
	for i, s := range t.specials {
		j.SpecialTokens = append(j.SpecialTokens, specialToken{ID: 256 + i, Content: s})
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("model: save tokenizer: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, TokenizerFile), append(data, '\n')); err != nil {
		return fmt.Errorf("model: save tokenizer: %w", err)
	}
	return nil
}

// LoadTokenizer reads dir/tokenizer.json.
func LoadTokenizer(dir string) (*Tokenizer, error) {
	t, err := loadTokenizer(dir)
	if err != nil {
		return nil, fmt.Errorf("model: load tokenizer %s: %w", dir, err)
	}
	return t, nil
}

func loadTokenizer(dir string) (*Tokenizer, error) {
	data, err := os.ReadFile(filepath.Join(dir, TokenizerFile))
	if err != nil {
		return nil, err
	}
	t, err := parseTokenizer(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TokenizerFile, err)
	}
	return t, nil
}

func parseTokenizer(data []byte) (*Tokenizer, error) {
	var j tokenizerJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if j.Type != tokenizerType || j.ByteTokens != 256 {
		return nil, fmt.Errorf("type %q with %d byte tokens; only %q with 256 is known", j.Type, j.ByteTokens, tokenizerType)
	}
	if j.BOSTokenID != BOS || j.EOSTokenID != EOS {
		return nil, fmt.Errorf("bos/eos token ids %d/%d, want %d/%d", j.BOSTokenID, j.EOSTokenID, BOS, EOS)
	}
	specials := make([]string, len(j.SpecialTokens))
	for i, s := range j.SpecialTokens {
		if s.ID != 256+i {
			return nil, fmt.Errorf("special token %q has id %d, want %d (ids are consecutive from 256)", s.Content, s.ID, 256+i)
		}
		specials[i] = s.Content
	}
	if len(specials) == 0 {
		return nil, errors.New("no special tokens")
	}
	return newTokenizer(specials)
}
