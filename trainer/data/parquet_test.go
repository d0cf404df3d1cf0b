package data

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type pqMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type pqRow struct {
	DataSource  string      `parquet:"data_source"`
	Prompt      []pqMessage `parquet:"prompt,list"`
	RewardModel struct {
		GroundTruth *string `parquet:"ground_truth,optional"`
		Style       string  `parquet:"style"`
	} `parquet:"reward_model"`
	ExtraInfo struct {
		Index int64  `parquet:"index"`
		Level *int32 `parquet:"level,optional"`
	} `parquet:"extra_info"`
}

// writeVerl writes a small verl-layout file; row 2 (1-based) has no ground truth.
func writeVerl(t *testing.T) string {
	t.Helper()
	str := func(s string) *string { return &s }
	lvl := int32(4)
	rows := make([]pqRow, 4)
	for i := range rows {
		rows[i].DataSource = "toy"
		rows[i].ExtraInfo.Index = int64(10 + i)
		rows[i].RewardModel.Style = "rule"
	}
	rows[0].Prompt = []pqMessage{{"system", "Use tools."}, {"user", "1+1?"}}
	rows[0].RewardModel.GroundTruth = str("2")
	rows[0].ExtraInfo.Level = &lvl
	rows[1].Prompt = []pqMessage{{"user", "no answer"}}
	rows[2].Prompt = []pqMessage{{"user", "2+2?"}, {"assistant", "4"}, {"user", "and 3+3?"}}
	rows[2].RewardModel.GroundTruth = str("6")
	rows[3].Prompt = []pqMessage{{"user", "1+1?"}}
	rows[3].RewardModel.GroundTruth = str("2")
	rows[3].ExtraInfo.Index = 10 // a repeat of row 1
	path := filepath.Join(t.TempDir(), "toy.parquet")
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParquetNested(t *testing.T) {
	path := writeVerl(t)
	m := VerlMapping
	m.Meta = map[string]string{"level": "extra_info.level", "style": "reward_model.style", "second_role": "prompt.1.role"}

	_, err := LoadParquet(path, m)
	assertErr(t, err, ErrMissingField, path+": row 2:", `field "reward_model.ground_truth"`, "missing")

	ps, skipped, err := LoadWith(path, m, LoadOptions{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 || len(ps) != 3 {
		t.Fatalf("skipped %d kept %d", skipped, len(ps))
	}
	type row struct{ ID, Group, Prompt, Answer, Source string }
	want := []row{
		{"toy-10", "toy-10", "1+1?", "2", "toy"},
		{"toy-12", "toy-12", "and 3+3?", "6", "toy"},
		{"toy-10#1", "toy-10", "1+1?", "2", "toy"},
	}
	for i, w := range want {
		p := ps[i]
		if got := (row{p.ID, p.Group, p.Prompt, p.Answer, p.Source}); got != w {
			t.Errorf("row %d: %+v, want %+v", i, got, w)
		}
	}
	if want := []Message{{"system", "Use tools."}, {"user", "1+1?"}}; !reflect.DeepEqual(ps[0].Messages, want) {
		t.Errorf("messages %q", ps[0].Messages)
	}
	if want := map[string]string{"level": "4", "style": "rule", "second_role": "user"}; !reflect.DeepEqual(ps[0].Meta, want) {
		t.Errorf("meta %q", ps[0].Meta)
	}
	if len(ps[1].Messages) != 3 {
		t.Errorf("messages %q", ps[1].Messages)
	}
	// Dedup keeps the first "1+1?".
	if u, c := Dedup(ps); len(u) != 2 || c != 0 {
		t.Errorf("Dedup: %d, %d", len(u), c)
	}
	// Load picks the reader by extension; a zero mapping is verl's.
	if ps, _, err := LoadWith(path, Mapping{}, LoadOptions{SkipInvalid: true}); err != nil || len(ps) != 3 {
		t.Errorf("guessed: %d, %v", len(ps), err)
	}
}

// A file whose footer is intact but whose pages are garbage must fail
// cleanly (an error, not a panic).
func TestParquetCorruptPages(t *testing.T) {
	src, err := os.ReadFile(writeVerl(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{4, 8, 16, 32, 64, 128} {
		b := append([]byte(nil), src...)
		for i := off; i < off+64 && i < len(b)-8; i++ {
			b[i] = 0xff
		}
		path := filepath.Join(t.TempDir(), "corrupt.parquet")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ps, _, err := LoadWith(path, VerlMapping, LoadOptions{SkipInvalid: true})
		if err == nil {
			t.Logf("offset %d: no error, %d rows", off, len(ps))
			continue
		}
		assertErr(t, err, nil, path, "Parquet")
		t.Logf("offset %d: %v", off, err)
	}
}
