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
		// The zygote loads with LD_BIND_NOW; the programs user code runs
		// must not.
		{"no LD_BIND_NOW for user code", "import os, subprocess; print('LD_BIND_NOW' in os.environ, subprocess.run(['env'], capture_output=True, text=True).stdout.count('LD_BIND_NOW'))", "", execution.Finished, "False 0\n", ""},
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

// TestPrecompile covers sources the zygote compiles before it forks, and
// the larger ones it leaves to the child: both must look the same to the
// user, and nothing of one execution may reach the next.
func TestPrecompile(t *testing.T) {
	rt := runtimeFor(t, Python)
	big := "x = 0\n" + strings.Repeat("x += 1\n", 12000) // > precompile's 64 KiB
	warning := `SyntaxWarning: "is" with a literal`
	cases := []struct {
		name, code     string
		status         execution.Status
		stdout, stderr string
		stderrCount    int // times stderr must hold stderr (0: at least once)
	}{
		{"compile warning reaches the execution's stderr once", "x = 1\nprint(x is 1)", execution.Finished, "True\n", warning, 1},
		{"next execution's stderr is clean", "print(2)", execution.Finished, "2\n", "", 0},
		{"warning in the last expression", "x = 1\nx is 1", execution.Finished, "True\n", warning, 1},
		{"null byte", "print(1)\x00", execution.Failed, "", "ValueError: source code string cannot contain null bytes", 1},
		{"parser out of memory", strings.Repeat("-", 60000) + "1", execution.Failed, "", "MemoryError", 1},
		{"too deeply nested", strings.Repeat("(", 300) + strings.Repeat(")", 300), execution.Failed, "", "SyntaxError: too many nested parentheses", 1},
		{"syntax error keeps its line", "x = 1\ny = (\n", execution.Failed, "", "line 2", 1},
		{"big source, compiled by the child", big + "x", execution.Finished, "12000\n", "", 0},
		{"big source's syntax error", big + "def (", execution.Failed, "", "line 12002", 1},
		{"big source's warning", big + "print(x is 1)", execution.Finished, "False\n", warning, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := rt.Execute(context.Background(), &execution.Request{Code: c.code,
				Limits: execution.Limits{WallTime: 10 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			stderr := string(res.Stderr)
			okErr := strings.Contains(stderr, c.stderr)
			if c.stderr == "" {
				okErr = stderr == ""
			} else if c.stderrCount > 0 {
				okErr = strings.Count(stderr, c.stderr) == c.stderrCount
			}
			if res.Status != c.status || string(res.Stdout) != c.stdout || !okErr {
				t.Fatalf("got %s stdout %q stderr %q (%s)", res.Status, res.Stdout, stderr, res.Message)
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
