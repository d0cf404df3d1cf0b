package job

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retool-rl/retool/core/execution"
)

// echoExecutor "runs" code by printing what the test tells it to.
type echoExecutor map[string]string

func (e echoExecutor) Execute(_ context.Context, req *execution.Request) (execution.Result, error) {
	out, ok := e[req.Code]
	if !ok {
		return execution.Result{}, errors.New("refused")
	}
	return execution.Result{Status: execution.Finished, Stdout: []byte(out)}, nil
}

func TestLoadTraces(t *testing.T) {
	traces, err := LoadTraces("testdata/traces.jsonl", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) != 2 {
		t.Fatalf("got %d traces, want the 2 with a code and an output block: %+v", len(traces), traces)
	}
	if traces[0].Code != "print(2+3)\n" || traces[0].Output != "5\n" {
		t.Fatalf("first trace: %+v", traces[0])
	}
	if limited, _ := LoadTraces("testdata/traces.jsonl", 1); len(limited) != 1 {
		t.Fatalf("limit 1 gave %d", len(limited))
	}
}

func TestLoadTracesErrors(t *testing.T) {
	if _, err := LoadTraces("testdata/missing.jsonl", 0); err == nil {
		t.Fatal("missing file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"code\": [\"x\"]}\nnot json\n"), 0o644)
	_, err := LoadTraces(bad, 0)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("broken line: %v, want the file and line", err)
	}
}

func TestReplayCountsMatches(t *testing.T) {
	traces, _ := LoadTraces("testdata/traces.jsonl", 0)
	traces = append(traces, Trace{ID: "refused", Code: "unknown", Output: ""})
	ex := echoExecutor{"print(2+3)\n": "5\n", "print('a')\n": "a\n"}
	calls := 0
	rep := Replay(context.Background(), ex, traces, "python", 2, func() { calls++ })
	if rep.Traces != 3 || rep.Matched != 1 || rep.Errors != 1 || calls != 3 {
		t.Fatalf("report %+v (progress calls %d)", rep, calls)
	}
	if len(rep.Mismatch) != 2 || !strings.Contains(strings.Join(rep.Mismatch, "\n"), `recorded "b", got "a"`) {
		t.Fatalf("mismatches: %q", rep.Mismatch)
	}
	var b strings.Builder
	rep.Write(&b)
	if !strings.Contains(b.String(), "1/3 (33.3%)") {
		t.Fatalf("report text:\n%s", b.String())
	}
}
