package data

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCustomMappingNested(t *testing.T) {
	m := Mapping{
		Name:     "custom",
		ID:       "meta.uid",
		Prompt:   "body.question",
		Answer:   "grading.final",
		Messages: "chat",
		Source:   "meta.origin",
		Meta:     map[string]string{"level": "tags.level", "topic": "tags.topic", "first_role": "chat.0.role"},
	}
	ps, err := LoadJSONL("testdata/nested.jsonl", m)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, group, prompt, answer, source string
		msgs                              []Message
		meta                              map[string]string
	}{
		{"custom-q-1", "custom-q-1", "What is 1+1?", "2", "custom-a",
			[]Message{{"system", "Be brief."}, {"user", "What is 1+1?"}},
			map[string]string{"level": "1", "topic": "arith", "first_role": "system"}},
		{"custom-q-2", "custom-q-2", "Half of 3?", `\frac{3}{2}`, "custom-b",
			[]Message{{"user", "Half of 3?"}},
			map[string]string{"topic": "frac", "first_role": "user"}},
		{"custom-q-3", "custom-q-3", "Zero-padded?", "007", "custom-a",
			[]Message{{"user", "Zero-padded?"}},
			map[string]string{"level": "3", "first_role": "user"}},
		{"custom-q-1#1", "custom-q-1", "What is 1+1?", "2.50", "custom-a",
			[]Message{{"user", "again"}},
			map[string]string{"first_role": "user"}},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d", len(ps), len(want))
	}
	for i, w := range want {
		p := ps[i]
		got := []string{p.ID, p.Group, p.Prompt, p.Answer, p.Source}
		exp := []string{w.id, w.group, w.prompt, w.answer, w.source}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("record %d: got %q, want %q", i, got, exp)
		}
		if !reflect.DeepEqual(p.Messages, w.msgs) {
			t.Errorf("record %d: messages %q, want %q", i, p.Messages, w.msgs)
		}
		if !reflect.DeepEqual(p.Meta, w.meta) {
			t.Errorf("record %d: meta %q, want %q", i, p.Meta, w.meta)
		}
	}
}

func TestMappingVariants(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		m          Mapping
		wantPrompt []string
		wantAnswer []string
		wantID     []string
		wantMsgs   int // messages of the first record
	}{
		{
			name:       "prompt only: single user message, index ids, name from file",
			file:       "testdata/nested.jsonl",
			m:          Mapping{Prompt: "body.question", Answer: "grading.final"},
			wantPrompt: []string{"What is 1+1?", "Half of 3?", "Zero-padded?", "What is 1+1?"},
			wantAnswer: []string{"2", `\frac{3}{2}`, "007", "2.50"},
			wantID:     []string{"nested-0", "nested-1", "nested-2", "nested-3"},
			wantMsgs:   1,
		},
		{
			name:       "messages only: prompt is the last user message",
			file:       "testdata/nested.jsonl",
			m:          Mapping{Messages: "chat", Answer: "grading.final", Name: "x"},
			wantPrompt: []string{"What is 1+1?", "Half of 3?", "Zero-padded?", "again"},
			wantAnswer: []string{"2", `\frac{3}{2}`, "007", "2.50"},
			wantID:     []string{"x-0", "x-1", "x-2", "x-3"},
			wantMsgs:   2,
		},
		{
			name:       "answer after a marker (GSM8K), commas kept",
			file:       "testdata/gsm_like.jsonl",
			m:          Mapping{Prompt: "question", Answer: "answer", AnswerAfter: "####"},
			wantPrompt: []string{"Sum?"},
			wantAnswer: []string{"1,005"},
			wantID:     []string{"gsm_like-0"},
			wantMsgs:   1,
		},
		{
			name:       "zero mapping is guessed",
			file:       "testdata/missing_field.jsonl",
			m:          Mapping{},
			wantPrompt: []string{"one", "five"},
			wantAnswer: []string{"1", "5"},
			wantID:     []string{"missing_field-0", "missing_field-4"},
			wantMsgs:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, skipped, err := LoadWith(tt.file, tt.m, LoadOptions{SkipInvalid: true})
			if err != nil {
				t.Fatal(err)
			}
			var prompts, answers, ids []string
			for _, p := range ps {
				prompts, answers, ids = append(prompts, p.Prompt), append(answers, p.Answer), append(ids, p.ID)
			}
			check(t, "prompts", prompts, tt.wantPrompt)
			check(t, "answers", answers, tt.wantAnswer)
			check(t, "ids", ids, tt.wantID)
			if len(ps) > 0 && len(ps[0].Messages) != tt.wantMsgs {
				t.Errorf("first record has %d messages, want %d", len(ps[0].Messages), tt.wantMsgs)
			}
			t.Logf("skipped %d", skipped)
		})
	}
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		m       Mapping
		want    []string // substrings of the error
		is      error
		skipped int // with SkipInvalid: how many are skipped, -1 = still an error
		kept    int
	}{
		{
			name: "missing file", path: "testdata/nope.jsonl",
			m:    Mapping{Prompt: "problem", Answer: "answer"},
			want: []string{"testdata/nope.jsonl", "no such file"}, is: os.ErrNotExist, skipped: -1,
		},
		{
			name: "line not JSON", path: "testdata/bad_json.jsonl",
			m:    Mapping{Prompt: "problem", Answer: "answer"},
			want: []string{"testdata/bad_json.jsonl:3:", "not JSON"}, skipped: 1, kept: 3,
		},
		{
			name: "missing answer field", path: "testdata/missing_field.jsonl",
			m:    Mapping{Prompt: "problem", Answer: "answer"},
			want: []string{"testdata/missing_field.jsonl:2:", `field "answer"`, "missing"}, is: ErrMissingField,
			skipped: 3, kept: 2,
		},
		{
			name: "missing nested field", path: "testdata/nested.jsonl",
			m:    Mapping{Prompt: "body.question", Answer: "grading.final", ID: "meta.missing"},
			want: []string{"testdata/nested.jsonl:1:", `field "meta.missing"`}, is: ErrMissingField,
			skipped: 4, kept: 0,
		},
		{
			name: "no marker in the answer", path: "testdata/gsm_like.jsonl",
			m:       Mapping{Prompt: "question", Answer: "answer", AnswerAfter: "####"},
			want:    []string{"testdata/gsm_like.jsonl:2:", `field "answer"`, `no "####" marker`},
			skipped: 1, kept: 1,
		},
		{
			name: "messages field that is not a chat", path: "testdata/nested.jsonl",
			m:       Mapping{Messages: "body", Answer: "grading.final"},
			want:    []string{"testdata/nested.jsonl:1:", `field "body"`, "not a list of messages"},
			skipped: 4, kept: 0,
		},
		{
			name: "mapping without an answer", path: "testdata/nested.jsonl",
			m:    Mapping{Prompt: "body.question"},
			want: []string{"testdata/nested.jsonl", "no answer field"}, skipped: -1,
		},
		{
			name: "unknown extension", path: "testdata/x.csv",
			m:    Mapping{Prompt: "q", Answer: "a"},
			want: []string{"testdata/x.csv", "unknown format"}, skipped: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path, tt.m)
			assertErr(t, err, tt.is, tt.want...)
			ps, skipped, err := LoadWith(tt.path, tt.m, LoadOptions{SkipInvalid: true})
			if tt.skipped < 0 {
				if err == nil {
					t.Fatal("SkipInvalid: want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("SkipInvalid: %v", err)
			}
			if skipped != tt.skipped || len(ps) != tt.kept {
				t.Errorf("SkipInvalid: skipped %d kept %d, want %d and %d", skipped, len(ps), tt.skipped, tt.kept)
			}
		})
	}
}

// assertErr checks that err is one line holding every substring.
func assertErr(t *testing.T, err, is error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q", subs)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, s := range subs {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not contain %q", msg, s)
		}
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q is not %v", msg, is)
	}
}

func TestOnSkip(t *testing.T) {
	var reasons []string
	_, n, err := LoadWith("testdata/missing_field.jsonl", Mapping{Prompt: "problem", Answer: "answer"},
		LoadOptions{SkipInvalid: true, OnSkip: func(err error) { reasons = append(reasons, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(reasons) != 3 {
		t.Fatalf("skipped %d, reasons %q", n, reasons)
	}
	for i, line := range []string{":2:", ":3:", ":4:"} {
		if !strings.Contains(reasons[i], line) {
			t.Errorf("reason %d %q lacks %q", i, reasons[i], line)
		}
	}
	var re *RecordError
	_, err = Load("testdata/missing_field.jsonl", Mapping{Prompt: "problem", Answer: "answer"})
	if !errors.As(err, &re) || re.Line != 2 || re.Field != "answer" {
		t.Errorf("RecordError = %+v", re)
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv(EnvDataDir, "")
	if got := DataDir("/x"); got != "/x" {
		t.Errorf("explicit: %s", got)
	}
	if got := DataDir(""); !strings.HasSuffix(got, filepath.Join("shared", "data")) {
		t.Errorf("default: %s", got)
	}
	t.Setenv(EnvDataDir, "/from/env")
	if got := DataDir(""); got != "/from/env" {
		t.Errorf("env: %s", got)
	}
	if got := DataDir("/x"); got != "/x" {
		t.Errorf("explicit beats env: %s", got)
	}
}

func TestNamedRegistry(t *testing.T) {
	want := []string{"aime2024", "aime2024_dapo", "aime2025", "dapo17k", "gsm8k", "math500"}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	_, err := Named("nope", "")
	assertErr(t, err, nil, `unknown set "nope"`)
	_, err = Named("aime2024", t.TempDir())
	assertErr(t, err, os.ErrNotExist, `set "aime2024"`, "aime2024.jsonl not found", EnvDataDir)

	// A set registered from config, looked up in a data dir.
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/nested.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mine.jsonl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	Register(Set{Name: "test_mine", File: "mine.jsonl", Mapping: Mapping{ID: "meta.uid", Prompt: "body.question", Answer: "grading.final"}})
	t.Cleanup(func() { setsMu.Lock(); delete(sets, "test_mine"); setsMu.Unlock() })
	t.Setenv(EnvDataDir, dir)
	ps, err := Resolve("test_mine", "", Mapping{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 || ps[0].ID != "test_mine-q-1" || ps[0].Source != "test_mine" {
		t.Errorf("got %d, first %+v", len(ps), ps[0])
	}
	// Resolve falls back to a path.
	ps, err = Resolve("testdata/nested.jsonl", "", Mapping{Prompt: "body.question", Answer: "grading.final"})
	if err != nil || len(ps) != 4 || ps[2].Answer != "007" {
		t.Errorf("Resolve(path) = %+v, %v", ps, err)
	}
	// A guessed mapping recognises GSM8K's worked answers.
	ps, n, err := LoadWith("testdata/gsm_like.jsonl", Mapping{}, LoadOptions{SkipInvalid: true})
	if err != nil || n != 1 || len(ps) != 1 || ps[0].Answer != "1,005" || !strings.Contains(ps[0].Meta["solution"], "<<2+3=5>>") {
		t.Errorf("guessed GSM8K = %+v, %d, %v", ps, n, err)
	}
}
