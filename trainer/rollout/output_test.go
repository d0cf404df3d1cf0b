package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
)

func defaults(t *testing.T, o Options) Options {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

const traceback = "Traceback (most recent call last):\n  File \"<code>\", line 2, in <module>\n    f()\n  File \"<code>\", line 1, in f\nZeroDivisionError: division by zero\n"

func TestShownOutput(t *testing.T) {
	cases := map[string]struct {
		style ErrorStyle
		res   execution.Result
		want  string
	}{
		"finished":                    {LastLine, execution.Result{Status: execution.Finished, Stdout: []byte("18\n")}, "18\n"},
		"finished no newline":         {LastLine, execution.Result{Status: execution.Finished, Stdout: []byte("18")}, "18\n"},
		"finished silent":             {LastLine, execution.Result{Status: execution.Finished}, ""},
		"finished warnings hidden":    {LastLine, execution.Result{Status: execution.Finished, Stdout: []byte("1\n"), Stderr: []byte("DeprecationWarning: x\n")}, "1\n"},
		"finished whole shows stderr": {Whole, execution.Result{Status: execution.Finished, Stdout: []byte("1\n"), Stderr: []byte("DeprecationWarning: x\n")}, "1\nDeprecationWarning: x\n"},
		"failed last line": {LastLine, execution.Result{Status: execution.Failed, ExitCode: 1, Stdout: []byte("before\n"), Stderr: []byte(traceback)},
			"ZeroDivisionError: division by zero\n"},
		"failed whole": {Whole, execution.Result{Status: execution.Failed, ExitCode: 1, Stdout: []byte("before\n"), Stderr: []byte(traceback)},
			"before\n" + traceback},
		"julia error line": {LastLine, execution.Result{Status: execution.Failed, ExitCode: 1,
			Stderr: []byte("ERROR: DivideError: integer division error\nStacktrace:\n [1] div\n   @ ./int.jl:295\n")}, "ERROR: DivideError: integer division error\n"},
		"failed silently":       {LastLine, execution.Result{Status: execution.Failed, ExitCode: 3}, "Error: exit code 3\n"},
		"failed silently whole": {Whole, execution.Result{Status: execution.Failed, Signal: 9}, "Error: killed by signal 9\n"},
		"timeout keeps partial output": {LastLine, execution.Result{Status: execution.Timeout, Stdout: []byte("step 1\nstep 2\n")},
			"step 1\nstep 2\nTimed out after 5s\n"},
		"timeout silent": {LastLine, execution.Result{Status: execution.Timeout}, "Timed out after 5s\n"},
		"memory":         {LastLine, execution.Result{Status: execution.Memory, Stdout: []byte("a")}, "a\nError: memory limit exceeded\n"},
		"output limit":   {LastLine, execution.Result{Status: execution.OutputLimit, Stdout: []byte("yyyy\n")}, "yyyy\n(output limit reached)\n"},
		"sandbox error":  {LastLine, execution.Result{Status: execution.SandboxError, Message: "runtime plugin python crashed"}, "Error: sandbox failure: runtime plugin python crashed\n"},
		"invalid utf-8":  {LastLine, execution.Result{Status: execution.Finished, Stdout: []byte("a\xff\xfeb\n")}, "a\uFFFDb\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := defaults(t, Options{ErrorStyle: c.style})
			if got := o.shownOutput(c.res); got != c.want {
				t.Fatalf("got %q want %q", got, c.want)
			}
		})
	}
}

func TestTruncateHeadTail(t *testing.T) {
	long := strings.Repeat("a", 300) + strings.Repeat("b", 300)
	cases := map[string]struct {
		head, tail int
		in, want   string
	}{
		"default 200+200":  {0, 0, long, strings.Repeat("a", 200) + "..." + strings.Repeat("b", 200)},
		"short kept":       {0, 0, "hello", "hello"},
		"exactly at limit": {3, 2, "abcde", "abcde"},
		"one over":         {3, 2, "abcdef", "abc...ef"},
		"runes not bytes":  {2, 2, "αβγδεζ", "αβ...εζ"},
		"off":              {-1, 200, long, long},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := defaults(t, Options{TruncateHead: c.head, TruncateTail: c.tail})
			if got := o.truncate(c.in); got != c.want {
				t.Fatalf("got %q want %q", got, c.want)
			}
		})
	}
	// The timeout note survives truncation.
	o := defaults(t, Options{TruncateHead: 5, TruncateTail: 5, ToolTimeout: 2 * time.Second})
	got := o.shownOutput(execution.Result{Status: execution.Timeout, Stdout: []byte(long)})
	if got != "aaaaa...bbbbb\nTimed out after 2s\n" {
		t.Fatalf("timeout after truncation: %q", got)
	}
}

func TestParseErrorStyle(t *testing.T) {
	for in, want := range map[string]ErrorStyle{"": LastLine, "last_line": LastLine, "LastLine": LastLine, "last-line": LastLine, "whole": Whole} {
		if got, err := ParseErrorStyle(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
		if s, _ := ParseErrorStyle(want.String()); s != want {
			t.Errorf("String/Parse round trip of %v", want)
		}
	}
	if _, err := ParseErrorStyle("first_line"); err == nil {
		t.Error("accepted first_line")
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]Options{
		"negative calls":   {MaxToolCalls: -1},
		"negative tokens":  {MaxTokens: -5},
		"tiny timeout":     {ToolTimeout: time.Microsecond},
		"huge timeout":     {ToolTimeout: 2 * time.Hour},
		"unknown style":    {ErrorStyle: 7},
		"negative workers": {Concurrency: -2},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
	o := defaults(t, Options{})
	if o.MaxTokens != 16384 || o.MaxTokensPerTurn != 16384 || o.TopP != 1 || o.TruncateHead != 200 || o.TruncateTail != 200 ||
		o.ToolTimeout != 5*time.Second || o.DefaultLanguage != "python" || o.ErrorStyle != LastLine {
		t.Errorf("defaults: %+v", o)
	}
}
