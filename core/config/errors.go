package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
)

// Error is the error returned by Parse, Load (for the file's content) and
// Overlay. Its message has one line per problem, each starting with where
// the value was set: "file:line:col", or the environment variable or flag.
// Diagnostics keeps the full hcl diagnostics, e.g. for
// hcl.NewDiagnosticTextWriter to print source snippets.
type Error struct {
	Diagnostics hcl.Diagnostics
}

// originLabel in hcl.Diagnostic.Extra names a value's origin outside a file.
type originLabel string

func newError(diags hcl.Diagnostics) *Error {
	var errs hcl.Diagnostics
	seen := map[string]bool{}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if line := formatDiag(d); !seen[line] {
			seen[line] = true
			errs = append(errs, d)
		}
	}
	// hcl reports attributes in map order: sort by position so that the
	// message is stable. Problems without a file position keep their order
	// and come last.
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Subject, errs[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	return &Error{Diagnostics: errs}
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		lines = append(lines, formatDiag(d))
	}
	return strings.Join(lines, "\n")
}

// formatDiag renders d as "where: Summary; Detail".
func formatDiag(d *hcl.Diagnostic) string {
	var where string
	switch {
	case d.Subject != nil:
		where = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	default:
		if l, ok := d.Extra.(originLabel); ok {
			where = string(l)
		}
	}
	msg := d.Summary
	if d.Detail != "" {
		msg += "; " + d.Detail
	}
	if where == "" {
		return msg
	}
	return where + ": " + msg
}

// pos renders r as "file:line:col".
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// didYouMean returns ` Did you mean "x"?` when given is close to one of
// names (hcl's own threshold), else "".
func didYouMean(given string, names []string) string {
	for _, n := range names {
		if levenshtein.Distance(given, n, nil) < 3 {
			return fmt.Sprintf(" Did you mean %q?", n)
		}
	}
	return ""
}

// oneOf renders names as `"a", "b" or "c"`.
func oneOf(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
