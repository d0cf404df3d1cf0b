package data

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sharedDir is the shared data dir, or skips the test when it is missing.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := DataDir("")
	if _, err := os.Stat(filepath.Join(dir, "aime2024.jsonl")); err != nil {
		t.Skipf("shared data not found in %s (set $%s or place ../shared/data beside the repo): %v", dir, EnvDataDir, err)
	}
	return dir
}

var (
	intRe       = regexp.MustCompile(`^-?[0-9]+$`)
	zeroPadRe   = regexp.MustCompile(`^0[0-9]+$`)
	commaNumRe  = regexp.MustCompile(`^-?[0-9]{1,3}(,[0-9]{3})+$`)
	negativeRe  = regexp.MustCompile(`^-`)
	plainIntRes = regexp.MustCompile(`^[0-9]+$`)
)

func count(ps []Problem, re *regexp.Regexp) int {
	n := 0
	for _, p := range ps {
		if re.MatchString(p.Answer) {
			n++
		}
	}
	return n
}

func TestSharedSets(t *testing.T) {
	dir := sharedDir(t)
	tests := []struct {
		name    string
		records int
		source  string
		firstID string
		check   func(t *testing.T, ps []Problem)
	}{
		{"aime2024", 30, "aime2024", "aime2024-60", func(t *testing.T, ps []Problem) {
			if n := count(ps, zeroPadRe); n != 7 {
				t.Errorf("zero-padded answers: %d, want 7", n)
			}
			if n := count(ps, intRe); n != 30 {
				t.Errorf("integer answers: %d, want 30", n)
			}
			if ps[29].ID != "aime2024-89" || ps[0].Meta["url"] == "" || ps[0].Meta["solution"] == "" {
				t.Errorf("last ID %s, meta %v", ps[29].ID, keys(ps[0].Meta))
			}
		}},
		{"aime2025", 30, "aime2025", "aime2025-0", func(t *testing.T, ps []Problem) {
			if ps[0].Answer != "70" {
				t.Errorf("first answer %q, want \"70\"", ps[0].Answer)
			}
			if n := count(ps, plainIntRes); n != 30 {
				t.Errorf("integer answers: %d, want 30", n)
			}
			// The file's answers are JSON integers, not strings.
			ints := 0
			eachJSONLine(t, filepath.Join(dir, "aime2025.jsonl"), func(rec map[string]any) {
				if _, ok := rec["answer"].(json.Number); ok {
					ints++
				}
			})
			if ints != 30 {
				t.Errorf("JSON integer answers in the file: %d, want 30", ints)
			}
		}},
		{"math500", 500, "math500", "math500-test/precalculus/807.json", func(t *testing.T, ps []Problem) {
			if n := count(ps, intRe); n != 311 {
				t.Errorf("integer answers (sign allowed): %d, want 311", n)
			}
			for _, k := range []string{"level", "subject", "unique_id", "solution"} {
				if ps[0].Meta[k] == "" {
					t.Errorf("meta %q missing: %v", k, keys(ps[0].Meta))
				}
			}
			if ps[0].Answer != `\left( 3, \frac{\pi}{2} \right)` || ps[0].Meta["level"] != "2" {
				t.Errorf("first: answer %q level %q", ps[0].Answer, ps[0].Meta["level"])
			}
		}},
		{"gsm8k", 1319, "gsm8k", "gsm8k-0", func(t *testing.T, ps []Problem) {
			if n := count(ps, commaNumRe); n != 14 {
				t.Errorf("answers with thousands commas: %d, want 14", n)
			}
			if n := count(ps, negativeRe); n != 2 {
				t.Errorf("negative answers: %d, want 2", n)
			}
			for _, p := range ps {
				if strings.Contains(p.Answer, "#") || !strings.Contains(p.Meta["solution"], "#### ") {
					t.Fatalf("%s: answer %q", p.ID, p.Answer)
				}
			}
			if ps[0].Answer != "18" {
				t.Errorf("first answer %q", ps[0].Answer)
			}
		}},
		{"dapo17k", 17917, "DAPO-17k", "dapo17k-0", func(t *testing.T, ps []Problem) {
			if n := count(ps, intRe); n != len(ps) {
				t.Errorf("integer answers: %d of %d", n, len(ps))
			}
			ids := map[string]bool{}
			for _, p := range ps {
				if len(p.Messages) != 1 || p.Messages[0].Role != "user" || p.Messages[0].Content != p.Prompt {
					t.Fatalf("%s: messages %q", p.ID, p.Messages)
				}
				ids[p.ID] = true
			}
			if len(ids) != len(ps) {
				t.Errorf("unique IDs: %d of %d", len(ids), len(ps))
			}
			u, conflicts := Dedup(ps)
			if len(u) != 17290 || conflicts != 11 {
				t.Errorf("Dedup: %d unique, %d conflicts; want 17290 and 11", len(u), conflicts)
			}
		}},
		{"aime2024_dapo", 960, "math_dapo", "aime2024_dapo-2", func(t *testing.T, ps []Problem) {
			groups := map[string]int{}
			ids := map[string]bool{}
			for _, p := range ps {
				groups[p.Group]++
				ids[p.ID] = true
				if !strings.Contains(p.Prompt, "Answer:") || p.Meta["raw_problem"] == "" {
					t.Fatalf("%s: prompt lacks DAPO's template or raw_problem", p.ID)
				}
			}
			if len(groups) != 30 || len(ids) != 960 {
				t.Errorf("%d groups, %d unique IDs; want 30 and 960", len(groups), len(ids))
			}
			for g, n := range groups {
				if n != 32 {
					t.Errorf("group %s has %d rows, want 32", g, n)
				}
			}
			if n := count(ps, intRe); n != 960 {
				t.Errorf("integer answers: %d", n)
			}
			u, conflicts := Dedup(ps)
			if len(u) != 30 || conflicts != 0 {
				t.Errorf("Dedup: %d unique, %d conflicts; want 30 and 0", len(u), conflicts)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := Named(tt.name, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != tt.records {
				t.Fatalf("%d records, want %d", len(ps), tt.records)
			}
			if s, _ := Lookup(tt.name); s.Records != tt.records {
				t.Errorf("registered Records %d", s.Records)
			}
			if ps[0].ID != tt.firstID || ps[0].Source != tt.source {
				t.Errorf("first: ID %q source %q, want %q and %q", ps[0].ID, ps[0].Source, tt.firstID, tt.source)
			}
			for _, p := range ps {
				if p.Prompt == "" || p.Answer == "" || len(p.Messages) == 0 || p.Group == "" {
					t.Fatalf("incomplete problem %+v", p)
				}
			}
			tt.check(t, ps)
		})
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func eachJSONLine(t *testing.T, path string, fn func(map[string]any)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		fn(rec)
	}
}

func TestSharedGuessedMapping(t *testing.T) {
	dir := sharedDir(t)
	// A zero Mapping guesses verl's layout and the JSONL field names.
	for _, tt := range []struct {
		file    string
		records int
	}{{"dapo_math_17k.parquet", 17917}, {"aime2024_dapo.parquet", 960}, {"math500.jsonl", 500}, {"aime2025.jsonl", 30}} {
		ps, err := Load(filepath.Join(dir, tt.file), Mapping{})
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if len(ps) != tt.records {
			t.Errorf("%s: %d records, want %d", tt.file, len(ps), tt.records)
		}
	}
}

func TestBrokenParquet(t *testing.T) {
	dir := sharedDir(t)
	src, err := os.ReadFile(filepath.Join(dir, "aime2024_dapo.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"header only", src[:4]},
		{"truncated to 100 bytes", src[:100]},
		{"truncated to half", src[:len(src)/2]},
		{"last byte missing", src[:len(src)-1]},
		{"not parquet", []byte(`{"problem": "x", "answer": "1"}` + "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(tmp, strings.ReplaceAll(tt.name, " ", "_")+".parquet")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, VerlMapping)
			assertErr(t, err, nil, path, "Parquet")
			t.Log(err)
		})
	}
}
