package tasks

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// runner executes code blocks as the sandbox runtimes do (fresh globals;
// the sympy runtime with `from sympy import *` done) and reports what the
// engine shows by default: stdout, or the error's last line.
const runner = `
import contextlib, io, json, sys, traceback
out = []
for job in json.load(sys.stdin):
    g = {"__name__": "__main__"}
    if job["lang"] == "sympy":
        exec("from sympy import *", g)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(job["code"], "<code>", "exec"), g)
        out.append(buf.getvalue())
    except Exception:
        lines = [l for l in traceback.format_exc().splitlines() if l.strip()]
        out.append(lines[-1].strip() + "\n")
json.dump(out, sys.stdout)
`

// TestTracesRunInPython runs every family's code, correct and buggy, in a
// real Python with SymPy and checks that the traces grade as they should.
// It needs RETOOL_TASKS_PYTHON, the Python to use, so the default test
// run stays hermetic and fast.
func TestTracesRunInPython(t *testing.T) {
	py := os.Getenv("RETOOL_TASKS_PYTHON")
	if py == "" {
		t.Skip("RETOOL_TASKS_PYTHON is not set")
	}
	var traces []Trace
	for _, name := range Families() {
		g, err := NewGenerator(7, Options{Families: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		ps := g.Generate(12)
		for _, mix := range []Mix{
			{Code: 1, TextKindCode: 1},
			{Code: 1, TextKindCode: 1, Sympy: 1},
			{Fix: 1},
			{Fix: 1, Sympy: 1},
		} {
			traces = append(traces, ColdStart(ps, mix, 1)...)
		}
	}
	type job struct {
		Lang string `json:"lang"`
		Code string `json:"code"`
	}
	var (
		jobs   []job
		blocks []*Block
	)
	for _, tr := range traces {
		for _, b := range tr.Blocks() {
			jobs = append(jobs, job{b.Lang, b.Code})
			blocks = append(blocks, b)
		}
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", runner)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", py, err, stderr.String())
	}
	var outs []string
	if err := json.Unmarshal(raw, &outs); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		b.Output = outs[i]
	}
	for _, tr := range traces {
		if tr.Style == StyleText {
			continue // a text-kind problem under a fix mix
		}
		if !tr.Check() {
			resp, _ := tr.Render()
			t.Errorf("%s (%s) does not check; want %q:\n%s", tr.Problem.ID, tr.Style, tr.Problem.Answer, resp)
		}
	}
	if testing.Verbose() {
		for _, i := range []int{0, len(traces) / 2, len(traces) - 1} {
			resp, _ := traces[i].Render()
			t.Logf("%s\n%s", traces[i].Prompt(), resp)
		}
	}
}
