package model

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTokenizerEncode(t *testing.T) {
	tok := NewTokenizer()
	tests := []struct {
		text string
		want []int
	}{
		{"", []int{}},
		{"ab", []int{'a', 'b'}},
		{"<|endoftext|>", []int{EOS}},
		{"<code>x</code>", []int{CodeStart, 'x', CodeEnd}},
		{"<interpreter>1</interpreter>", []int{InterpreterStart, '1', InterpreterEnd}},
		{"<answer>2</answer>", []int{AnswerStart, '2', AnswerEnd}},
		// The longest special token wins.
		{"```python\n```", []int{FencePython, '\n', Fence}},
		{"```sympy", []int{FenceSympy}},
		{"```pytho", []int{Fence, 'p', 'y', 't', 'h', 'o'}},
		{`\boxed{42}`, []int{Boxed, '4', '2', '}'}},
		{`\boxed 1`, []int{'\\', 'b', 'o', 'x', 'e', 'd', ' ', '1'}},
		{"<cod", []int{'<', 'c', 'o', 'd'}},
		{"é", []int{0xc3, 0xa9}},
	}
	for _, tt := range tests {
		got := tok.Encode(tt.text)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
		}
		if back := tok.Decode(got); back != tt.text {
			t.Errorf("Decode(Encode(%q)) = %q", tt.text, back)
		}
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	tok := NewTokenizer()
	if tok.VocabSize() != VocabSize {
		t.Fatalf("VocabSize() = %d, want %d", tok.VocabSize(), VocabSize)
	}
	texts := []string{
		"Let x = 3.\n<code>\n```python\nprint(1+1)\n```\n</code><interpreter>2</interpreter><answer>\\boxed{2}</answer><|endoftext|>",
		"日本語 and emoji 🙂, bytes \x00\xff",
		strings.Repeat("<", 10) + "code>",
	}
	for _, s := range texts {
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
	// Every id decodes to something that encodes back to it.
	for id := range VocabSize {
		if got := tok.Encode(tok.Decode([]int{id})); !slices.Equal(got, []int{id}) {
			t.Errorf("Encode(Decode(%d)) = %v", id, got)
		}
	}
	if got := tok.Decode([]int{-1, VocabSize}); got != "\uFFFD\uFFFD" {
		t.Errorf("Decode of ids outside the vocabulary = %q", got)
	}
}

func TestTokenizerSaveLoad(t *testing.T) {
	dir := t.TempDir()
	tok := NewTokenizer()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Special(), tok.Special()) {
		t.Fatalf("loaded special tokens %q, want %q", got.Special(), tok.Special())
	}

	for _, tt := range []struct{ name, json, want string }{
		{"not JSON", "{", "bad JSON"},
		{"other type", `{"type":"bpe","byte_tokens":256,"bos_token_id":256,"eos_token_id":256,"special_tokens":[{"id":256,"content":"<|endoftext|>"}]}`, "type"},
		{"gap in ids", `{"type":"byte-level","byte_tokens":256,"bos_token_id":256,"eos_token_id":256,"special_tokens":[{"id":256,"content":"<|endoftext|>"},{"id":258,"content":"x"}]}`, "consecutive"},
		{"no EOS first", `{"type":"byte-level","byte_tokens":256,"bos_token_id":256,"eos_token_id":256,"special_tokens":[{"id":256,"content":"<s>"}]}`, "EOS"},
		{"duplicate", `{"type":"byte-level","byte_tokens":256,"bos_token_id":256,"eos_token_id":256,"special_tokens":[{"id":256,"content":"<|endoftext|>"},{"id":257,"content":"<|endoftext|>"}]}`, "twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, TokenizerFile), []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTokenizer(d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadTokenizer = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
