package reward

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// dataDir finds the shared data sets: $RETOOL_DATA_DIR, else ../shared/data
// beside the repository root.
func dataDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("RETOOL_DATA_DIR"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared", "data")
		}
		parent := filepath.Dir(d)
		if parent == d {
			return filepath.Join("..", "shared", "data")
		}
		d = parent
	}
}

// readJSONL decodes every line of a shared data file into a fresh T; the test
// is skipped when the data are not there.
func readJSONL[T any](t *testing.T, name string) []T {
	t.Helper()
	path := filepath.Join(dataDir(t), name)
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s:%d: %v", name, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}
