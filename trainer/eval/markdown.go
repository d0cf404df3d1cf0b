package eval

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Markdown renders the summary as the body of a report: one column per
// data set (and one for all of them when there are several), one table
// per group of metrics.
func (s Summary) Markdown() string {
	cols := s.columns()
	var b strings.Builder
	b.WriteString("# Evaluation report\n\n")
	if s.Overall.Samples == 0 {
		b.WriteString("No records.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%d samples of %d problems in %d data set(s).\n\n", s.Overall.Samples, s.Overall.Problems, len(s.Datasets))

	b.WriteString("## Accuracy\n\n")
	rows := [][]string{
		row("problems", cols, func(m Metrics) string { return strconv.Itoa(m.Problems) }),
		row("samples", cols, func(m Metrics) string { return strconv.Itoa(m.Samples) }),
		row("samples per problem", cols, func(m Metrics) string {
			if m.MinSamples == m.MaxSamples {
				return strconv.Itoa(m.MaxSamples)
			}
			return fmt.Sprintf("%d–%d", m.MinSamples, m.MaxSamples)
		}),
		row("correct", cols, func(m Metrics) string { return strconv.Itoa(m.Correct) }),
		row("pass@1 (avg@n)", cols, func(m Metrics) string { return pct(m.PassAt1) }),
	}
	uneven := slices.ContainsFunc(cols, func(m Metrics) bool { return m.MinSamples != m.MaxSamples })
	for _, k := range s.Ks {
		name := fmt.Sprintf("pass@%d", k)
		if k == 1 {
			if !uneven {
				continue // avg@n
			}
			name = "pass@1, mean over problems"
		}
		rows = append(rows, row(name, cols, func(m Metrics) string { return atK(m, m.PassAtK, k) }))
	}
	for _, k := range s.Ks {
		rows = append(rows, row(fmt.Sprintf("maj@%d", k), cols, func(m Metrics) string { return atK(m, m.MajAtK, k) }))
	}
	if slices.ContainsFunc(cols, func(m Metrics) bool { return m.Duplicates > 0 }) {
		rows = append(rows, row("duplicate records (ignored)", cols, func(m Metrics) string { return strconv.Itoa(m.Duplicates) }))
	}
	table(&b, cols, rows)
	b.WriteString("pass@k and maj@k average over the problems with at least k samples (their number in brackets when not all).\n\n")

	b.WriteString("## Responses\n\n")
	rows = [][]string{
		row("length, chars: mean", cols, func(m Metrics) string { return num(m.ResponseChars.Mean) }),
		row("length, chars: median", cols, func(m Metrics) string { return num(m.ResponseChars.Median) }),
		row("length, chars: p90", cols, func(m Metrics) string { return num(m.ResponseChars.P90) }),
	}
	if slices.ContainsFunc(cols, func(m Metrics) bool { return m.ResponseTokens != nil }) {
		tok := func(f func(Dist) float64) func(Metrics) string {
			return func(m Metrics) string {
				if m.ResponseTokens == nil {
					return "–"
				}
				return num(f(*m.ResponseTokens))
			}
		}
		rows = append(rows,
			row("model tokens: mean", cols, tok(func(d Dist) float64 { return d.Mean })),
			row("model tokens: median", cols, tok(func(d Dist) float64 { return d.Median })),
			row("model tokens: p90", cols, tok(func(d Dist) float64 { return d.P90 })),
			row("responses with tokens", cols, func(m Metrics) string {
				if m.ResponseTokens == nil {
					return "0"
				}
				return strconv.Itoa(m.ResponseTokens.Count)
			}),
		)
	}
	rows = append(rows,
		row("empty responses", cols, func(m Metrics) string { return strconv.Itoa(m.EmptyResponses) }),
		row("trajectories with errors", cols, func(m Metrics) string { return strconv.Itoa(m.TrajectoryErrors) }),
		row("grading errors", cols, func(m Metrics) string { return strconv.Itoa(m.GradeErrors) }),
	)
	table(&b, cols, rows)

	b.WriteString("## Code\n\n")
	rows = [][]string{
		row("code ratio", cols, func(m Metrics) string { return fmt.Sprintf("%s (%d)", pct(m.CodeRatio), m.CodeResponses) }),
		row("code lines per response", cols, func(m Metrics) string { return num(m.CodeLines) }),
		row("code lines per response with code", cols, func(m Metrics) string { return num(m.CodeLinesWithCode) }),
		row("tool calls", cols, func(m Metrics) string { return strconv.Itoa(m.ToolCalls) }),
		row("tool calls per response", cols, func(m Metrics) string { return num(m.ToolCallsPerResponse) }),
		row("skipped calls (over the limit)", cols, func(m Metrics) string { return strconv.Itoa(m.SkippedCalls) }),
		row("correct code (calls finished)", cols, func(m Metrics) string { return strconv.Itoa(m.CorrectCode) }),
		row("last code passes: correct responses", cols, func(m Metrics) string { return rate(m.LastCodePassCorrect) }),
		row("last code passes: incorrect responses", cols, func(m Metrics) string { return rate(m.LastCodePassIncorrect) }),
		row("code invocation position: mean", cols, func(m Metrics) string { return pos(m.CodePosition, m.CodePosition.Mean) }),
		row("code invocation position: median", cols, func(m Metrics) string { return pos(m.CodePosition, m.CodePosition.Median) }),
		row("self-corrections", cols, func(m Metrics) string { return strconv.Itoa(m.SelfCorrections) }),
		row("self-correcting responses", cols, func(m Metrics) string {
			return fmt.Sprintf("%d (%s)", m.SelfCorrecting, pct(m.SelfCorrectionShare))
		}),
	}
	table(&b, cols, rows)
	b.WriteString("Code: the tool calls that were run. Position: the first call's offset ÷ the response's length. " +
		"A self-correction: failed calls followed by a finished one.\n\n")

	b.WriteString("## Tools chosen\n\n")
	var langs []string
	for _, m := range cols {
		for _, t := range m.Tools {
			if !slices.Contains(langs, t.Language) {
				langs = append(langs, t.Language)
			}
		}
	}
	if len(langs) == 0 {
		b.WriteString("No tool calls.\n\n")
	} else {
		rows = nil
		for _, l := range langs {
			rows = append(rows, row(label(l), cols, func(m Metrics) string {
				for _, t := range m.Tools {
					if t.Language == l {
						return fmt.Sprintf("%d %s, %s ok", t.Calls, plural(t.Calls, "call"), pct(t.SuccessRate))
					}
				}
				return "–"
			}))
		}
		table(&b, cols, rows)
	}
	b.WriteString("## Tool call statuses\n\n")
	counts(&b, cols, func(m Metrics) map[string]int { return m.ToolStatuses }, "No tool calls.")
	b.WriteString("## Stop reasons\n\n")
	counts(&b, cols, func(m Metrics) map[string]int { return m.StopReasons }, "None.")
	return b.String()
}

// columns: each data set, then all of them when there are several.
func (s Summary) columns() []Metrics {
	if len(s.Datasets) == 1 {
		return s.Datasets
	}
	return append(slices.Clone(s.Datasets), s.Overall)
}

func row(name string, cols []Metrics, f func(Metrics) string) []string {
	r := []string{name}
	for _, m := range cols {
		r = append(r, f(m))
	}
	return r
}

func table(b *strings.Builder, cols []Metrics, rows [][]string) {
	b.WriteString("| metric |")
	for _, m := range cols {
		b.WriteString(" " + cell(label(m.Dataset)) + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for _, c := range r {
			b.WriteString(" " + cell(c) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func counts(b *strings.Builder, cols []Metrics, f func(Metrics) map[string]int, none string) {
	var keys []string
	for _, m := range cols {
		for k := range f(m) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		b.WriteString(none + "\n\n")
		return
	}
	slices.Sort(keys)
	var rows [][]string
	for _, k := range keys {
		rows = append(rows, row(label(k), cols, func(m Metrics) string { return strconv.Itoa(f(m)[k]) }))
	}
	table(b, cols, rows)
}

func label(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

func num(x float64) string {
	if x == float64(int64(x)) {
		return strconv.FormatInt(int64(x), 10)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func rate(r Rate) string {
	if r.Total == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%d/%d)", pct(r.Rate), r.Hits, r.Total)
}

func pos(d Dist, x float64) string {
	if d.Count == 0 {
		return "–"
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
}

func atK(m Metrics, v []AtK, k int) string {
	for _, a := range v {
		if a.K == k && a.Problems < m.Problems {
			return fmt.Sprintf("%s (%d)", pct(a.Value), a.Problems)
		}
		if a.K == k {
			return pct(a.Value)
		}
	}
	return "–"
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
