package driver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
)

func runtimeFor(t *testing.T, o Options) *sdk.WarmRuntime {
	t.Helper()
	rt := Runtime(o)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rt.Configure(ctx, sdk.Settings{PoolSize: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestPythonSemantics(t *testing.T) {
	rt := runtimeFor(t, Python)
	cases := []struct {
		name, code, stdin  string
		status             execution.Status
		stdout, stderrPart string
	}{
		{"print", "print(6*7)", "", execution.Finished, "42\n", ""},
		{"bare last expression", "x = 20\nx + 22", "", execution.Finished, "42\n", ""},
		{"bare None is silent", "None", "", execution.Finished, "", ""},
		{"bare string shows its str", "'abc'", "", execution.Finished, "abc\n", ""},
		{"only the top level's last expression", "for i in range(2):\n    i", "", execution.Finished, "", ""},
		{"last expression after imports", "import math\nx = 2\nmath.sqrt(x * 8)", "", execution.Finished, "4.0\n", ""},
		{"last expression's error", "x = 1\nx / 0", "", execution.Failed, "", "File \"<code>\", line 2, in <module>\nZeroDivisionError"},
		{"globals stay clean", "print(sorted(globals()))\n7", "", execution.Finished, "['__builtins__', '__name__']\n7\n", ""},
		{"no state leaks", "print('x' in globals())", "", execution.Finished, "False\n", ""},
		{"traceback on stderr", "def f():\n    return 1/0\nf()", "", execution.Failed, "", "ZeroDivisionError: division by zero"},
		{"traceback starts in user code", "1/0", "", execution.Failed, "", "File \"<code>\", line 1"},
		{"syntax error", "def (", "", execution.Failed, "", "SyntaxError"},
		{"stdin", "print(input()[::-1])", "olleh\n", execution.Finished, "hello\n", ""},
		{"exit code", "import sys; sys.exit(3)", "", execution.Failed, "", ""},
		{"numpy on import", "import numpy as np; print(int(np.arange(10).sum()))", "", execution.Finished, "45\n", ""},
		{"invalid utf-8 out", "import sys; sys.stdout.buffer.write(b'\\xff\\xfe'); sys.stdout.flush()", "", execution.Finished, "\xff\xfe", ""},
		{"unicode", "print('∑ √2 café')", "", execution.Finished, "∑ √2 café\n", ""},
		// The child's stdio wrappers are built once in the zygote, over
		// stand-in pipes: they must behave as the host's pipes do.
		{"stdin is a pipe", "import sys; print(sys.stdin.seekable(), repr(sys.stdin.read()))", "a\nb\n", execution.Finished, "False 'a\\nb\\n'\n", ""},
		{"dunder stdio", "import sys; _ = sys.__stdout__.write('o\\n'), sys.__stderr__.write('e\\n')", "", execution.Finished, "o\n", "e\n"},
		{"no stdin", "import sys; print(repr(sys.stdin.read()))", "", execution.Finished, "''\n", ""},
		{"input at EOF", "input()", "", execution.Failed, "", "EOFError"},
		{"stderr", "import sys; print('to stderr', file=sys.stderr)", "", execution.Finished, "", "to stderr\n"},
		{"home is the work dir", "import os; print(os.environ['HOME'] == os.getcwd(), os.listdir('.'))", "", execution.Finished, "True []\n", ""},
		// The zygote raises its own OOM score around each fork so that the
		// child inherits 1000, and lowers it again.
		{"oom first pick", "print(open('/proc/self/oom_score_adj').read().strip())", "", execution.Finished, "1000\n", ""},
		{"zygote not oom first pick", "import os; print(open('/proc/%d/oom_score_adj' % os.getppid()).read().strip() != '1000')", "", execution.Finished, "True\n", ""},
		{"only stdio open", "import os; print(sorted(os.listdir('/proc/self/fd')))", "", execution.Finished, "['0', '1', '2', '3']\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := rt.Execute(context.Background(), &execution.Request{Code: c.code, Stdin: []byte(c.stdin),
				Limits: execution.Limits{WallTime: 10 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.status || string(res.Stdout) != c.stdout || !strings.Contains(string(res.Stderr), c.stderrPart) {
				t.Fatalf("got %s stdout %q stderr %q (%s)", res.Status, res.Stdout, res.Stderr, res.Message)
			}
		})
	}
}

func TestFilesInAndOut(t *testing.T) {
	rt := runtimeFor(t, Options{Name: "python", Languages: []string{"python"}})
	res, err := rt.Execute(context.Background(), &execution.Request{
		Code:       "data = open('in/a.txt').read()\nopen('out.txt', 'w').write(data.upper())",
		Files:      []execution.File{{Path: "in/a.txt", Content: []byte("hello")}},
		FetchFiles: []string{"out.txt", "missing.txt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != execution.Finished || len(res.Files) != 1 || string(res.Files[0].Content) != "HELLO" {
		t.Fatalf("files: %+v", res)
	}
	if !strings.Contains(res.Message, "missing.txt") {
		t.Fatalf("a missing fetch file must be reported: %q", res.Message)
	}
	_, err = rt.Execute(context.Background(), &execution.Request{Code: "1", Files: []execution.File{{Path: "../x"}}})
	if err == nil || !strings.Contains(err.Error(), "escapes the work dir") {
		t.Fatalf("escaping path: %v", err)
	}
}

func TestSympyStarImport(t *testing.T) {
	rt := runtimeFor(t, Sympy)
	cases := map[string]string{
		"factorint(2**64-1)":               "{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}\n",
		"x = symbols('x')\nfactor(x**2-1)": "(x - 1)*(x + 1)\n",
		"isprime(2**61-1)":                 "True\n",
	}
	for code, want := range cases {
		res, err := rt.Execute(context.Background(), &execution.Request{Code: code})
		if err != nil || res.Status != execution.Finished || string(res.Stdout) != want {
			t.Errorf("%q: %s %q %q %v", code, res.Status, res.Stdout, res.Stderr, err)
		}
	}
	if _, err := rt.Execute(context.Background(), &execution.Request{Language: "python", Code: "1"}); err == nil {
		t.Error("the sympy runtime accepted language python")
	}
}
