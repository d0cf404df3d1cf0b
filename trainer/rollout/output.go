package rollout

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/retool-rl/retool/core/execution"
)

// ErrorStyle says how a failed execution is shown to the model.
type ErrorStyle int

const (
	// LastLine shows only the error's last line ("ZeroDivisionError:
	// division by zero"), as ReTool's evaluation does. The default.
	LastLine ErrorStyle = iota
	// Whole shows everything the code printed, stdout then stderr.
	Whole
)

func (s ErrorStyle) String() string {
	if s == Whole {
		return "whole"
	}
	return "last_line"
}

// ParseErrorStyle reads "last_line" (or "lastline", "last-line", "") and "whole".
func ParseErrorStyle(s string) (ErrorStyle, error) {
	switch strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(strings.TrimSpace(s))) {
	case "", "lastline":
		return LastLine, nil
	case "whole":
		return Whole, nil
	}
	return 0, fmt.Errorf("unknown error style %q (last_line, whole)", s)
}

// shownOutput is what the model sees of one execution, before the
// template wraps it: truncated head+tail, valid UTF-8, ending in a newline
// unless empty.
// Shown is what the engine shows the model of an execution's result with
// these options (defaults filled in): the output truncated, an error as
// ErrorStyle says. Cold-start traces use it so that they show the model
// exactly what its rollouts will.
func (o Options) Shown(res execution.Result) (string, error) {
	d, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	return d.shownOutput(res), nil
}

func (o *Options) shownOutput(res execution.Result) string {
	stdout := string(res.Stdout)
	stderr := string(res.Stderr)
	all := joinOutput(stdout, stderr)
	var body, note string
	switch res.Status {
	case execution.Finished:
		body = stdout
		if o.ErrorStyle == Whole {
			body = all
		}
	case execution.OutputLimit:
		body, note = stdout, "(output limit reached)"
		if o.ErrorStyle == Whole {
			body = all
		}
	case execution.Timeout:
		body, note = stdout, fmt.Sprintf("Timed out after %s", o.ToolTimeout)
		if o.ErrorStyle == Whole {
			body = all
		}
	case execution.Memory:
		body, note = stdout, "Error: memory limit exceeded"
		if o.ErrorStyle == Whole {
			body = all
		}
	case execution.SandboxError:
		note = "Error: sandbox failure"
		if res.Message != "" {
			note += ": " + res.Message
		}
	default: // Failed and anything unknown
		if o.ErrorStyle == Whole {
			body = all
			if strings.TrimSpace(body) == "" {
				body = failureLine(res)
			}
		} else {
			body = lastErrorLine(stderr)
			if body == "" {
				body = failureLine(res)
			}
		}
	}
	return withNewline(joinOutput(o.truncate(body), note))
}

// joinOutput joins two texts with a newline between when both are there.
func joinOutput(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	if !strings.HasSuffix(a, "\n") {
		a += "\n"
	}
	return a + b
}

func withNewline(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// lastErrorLine is an error's one-line summary: Julia's "ERROR: …" line,
// else the last non-empty line (Python's "ValueError: …").
func lastErrorLine(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "ERROR: ") {
			return strings.TrimRight(l, "\r")
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// failureLine describes a failure that printed nothing.
func failureLine(res execution.Result) string {
	switch {
	case res.Message != "":
		return "Error: " + res.Message
	case res.Signal != 0:
		return fmt.Sprintf("Error: killed by signal %d", res.Signal)
	default:
		return fmt.Sprintf("Error: exit code %d", res.ExitCode)
	}
}

// truncate keeps the first TruncateHead and last TruncateTail characters
// with "..." between, on character (not byte) boundaries, and replaces
// invalid UTF-8.
func (o *Options) truncate(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if o.TruncateHead < 0 || o.TruncateTail < 0 {
		return s
	}
	n := utf8.RuneCountInString(s)
	if n <= o.TruncateHead+o.TruncateTail {
		return s
	}
	headEnd, tailStart, k := 0, len(s), 0
	for i := range s {
		if k == o.TruncateHead {
			headEnd = i
		}
		if k == n-o.TruncateTail {
			tailStart = i
			break
		}
		k++
	}
	return s[:headEnd] + "..." + s[tailStart:]
}

// unknownLanguage is the interpreter's answer to a language no runtime runs.
func unknownLanguage(lang string, available []string) string {
	if len(available) == 0 {
		return fmt.Sprintf("Error: no runtime for language '%s'; none is installed\n", lang)
	}
	return fmt.Sprintf("Error: no runtime for language '%s'; available: %s\n", lang, strings.Join(available, ", "))
}
