package eval

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func encode(t *testing.T, r Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadRecords(t *testing.T) {
	recs := fixture()
	l := make([]string, len(recs))
	for i, r := range recs {
		l[i] = encode(t, r)
	}
	torn := l[2][:len(l[2])/2]
	tests := []struct {
		name        string
		content     string
		want        []Record
		dropped     int
		errContains string
	}{
		{"empty file", "", nil, 0, ""},
		{"whole", l[0] + "\n" + l[1] + "\n", recs[:2], 0, ""},
		{"no final newline", l[0] + "\n" + l[1], recs[:2], 0, ""},
		{"blank lines", "\n" + l[0] + "\n\n  \n" + l[1] + "\n\n", recs[:2], 0, ""},
		{"truncated last line", l[0] + "\n" + l[1] + "\n" + torn, recs[:2], 1, ""},
		{"truncated last line with newline", l[0] + "\n" + torn + "\n", recs[:1], 1, ""},
		{"torn record glued to a resumed one", l[0] + "\n" + torn + l[3] + "\n" + l[4] + "\n", []Record{recs[0], recs[3], recs[4]}, 1, ""},
		{"newline lost between two records", l[0] + l[1] + "\n", recs[:2], 0, ""},
		{"glued then torn at the end", l[0] + "\n" + l[1] + torn, recs[:2], 1, ""},
		{"bad middle line", l[0] + "\n{oops\n" + l[1] + "\n", nil, 0, "line 2"},
		{"not JSON at all", "hello\nworld\n", nil, 0, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trajectories.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, dropped, err := ReadRecords(path)
			if tt.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("err %v, want one naming %q", err, tt.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dropped != tt.dropped {
				t.Errorf("dropped %d, want %d", dropped, tt.dropped)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %d records %+v, want %d", len(got), got, len(tt.want))
			}
		})
	}
	if _, _, err := ReadRecords(filepath.Join(t.TempDir(), "missing.jsonl")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestDone(t *testing.T) {
	tests := []struct {
		name    string
		records []Record
		want    map[string]map[int]bool
	}{
		{"none", nil, map[string]map[int]bool{}},
		{"fixture", fixture(), map[string]map[int]bool{"p1": {0: true, 1: true, 2: true}, "p2": {0: true}, "q1": {0: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Done(tt.records); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWritePlots(t *testing.T) {
	same := []Record{rec("d", "x", 0, true, "1", "aaaa", "answer", call("python", "finished", 1, "x"))}
	tests := []struct {
		name    string
		records []Record
	}{
		{"fixture", fixture()},
		{"no records", nil},
		{"one record", same},
		{"no code", []Record{rec("d", "x", 0, false, "", "", "eos"), rec("d", "x", 1, false, "", "abc", "eos")}},
	}
	want := []string{PlotResponseLength, PlotCodePosition, PlotCodeLines, PlotToolCalls, PlotToolChoice}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plots")
			files, err := WritePlots(dir, tt.records)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(files, want) {
				t.Fatalf("files %v, want %v", files, want)
			}
			for _, f := range files {
				checkPNG(t, filepath.Join(dir, f))
			}
		})
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s: not a PNG (%d bytes)", path, len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		t.Fatalf("%s: %v", path, r)
	}
}
