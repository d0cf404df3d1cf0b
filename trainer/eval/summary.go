package eval

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
)

// Summary is what an eval run reports: the metrics over all records and
// per data set (sorted by name).
type Summary struct {
	// Ks are the k of pass@k and maj@k asked for (sorted, positive, no
	// repeats); a metrics' PassAtK/MajAtK hold those k that at least one
	// of its problems has enough samples for.
	Ks       []int     `json:"ks"`
	Overall  Metrics   `json:"overall"`
	Datasets []Metrics `json:"datasets"`
}

// OverallName is the Dataset of Summary.Overall.
const OverallName = "all"

// Metrics are the scores of one data set (or of all records).
//
// Ratios whose denominator is zero are 0; the denominators are reported
// next to them.
type Metrics struct {
	Dataset  string `json:"dataset"`
	Problems int    `json:"problems"`
	// Samples counts the records scored; Duplicates the records left out
	// because the same (data set, problem, sample) came earlier.
	Samples    int `json:"samples"`
	Duplicates int `json:"duplicates"`
	// MinSamples and MaxSamples: the fewest and most samples of a problem.
	MinSamples int `json:"min_samples"`
	MaxSamples int `json:"max_samples"`
	Correct    int `json:"correct"`
	// PassAt1 is avg@n: the mean correctness over all samples.
	PassAt1 float64 `json:"pass_at_1"`
	// PassAtK is the unbiased estimator of Chen et al. (2021), averaged
	// over the problems with n ≥ k; MajAtK the majority vote over each such
	// problem's first k samples.
	PassAtK []AtK `json:"pass_at_k"`
	MajAtK  []AtK `json:"maj_at_k"`

	// ResponseChars is the length of the responses in characters (runes);
	// ResponseTokens their model tokens, over the responses whose model
	// segments carry tokens (nil when none do).
	ResponseChars  Dist  `json:"response_chars"`
	ResponseTokens *Dist `json:"response_tokens,omitempty"`
	EmptyResponses int   `json:"empty_responses"`

	// CodeResponses counts the responses with at least one tool call that
	// was run (not "skipped"); CodeRatio is their share of all responses.
	CodeResponses int     `json:"code_responses"`
	CodeRatio     float64 `json:"code_ratio"`
	// CodeLines is the mean number of non-blank lines of code (of the
	// calls run) per response; CodeLinesWithCode the same over the
	// responses with code only.
	CodeLines         float64 `json:"code_lines"`
	CodeLinesWithCode float64 `json:"code_lines_with_code"`
	// ToolCalls counts the calls run (skipped ones apart, in
	// SkippedCalls); CorrectCode those with status "finished".
	ToolCalls            int     `json:"tool_calls"`
	ToolCallsPerResponse float64 `json:"tool_calls_per_response"`
	SkippedCalls         int     `json:"skipped_calls"`
	CorrectCode          int     `json:"correct_code"`
	// LastCodePassCorrect / LastCodePassIncorrect: among the correct
	// (incorrect) responses with code, how many had their last call run
	// finish.
	LastCodePassCorrect   Rate `json:"last_code_pass_correct"`
	LastCodePassIncorrect Rate `json:"last_code_pass_incorrect"`
	// CodePosition is the first call's Position ÷ the response's length
	// in bytes, over the non-empty responses with code.
	CodePosition Dist `json:"code_position"`
	// SelfCorrections counts the runs of failed calls (any status but
	// "finished" and "skipped") followed later by a finished call;
	// SelfCorrecting the responses with at least one, and
	// SelfCorrectionShare their share of all responses.
	SelfCorrections     int     `json:"self_corrections"`
	SelfCorrecting      int     `json:"self_correcting_responses"`
	SelfCorrectionShare float64 `json:"self_correction_share"`
	// Tools: per language chosen, most used first.
	Tools        []ToolStat     `json:"tools"`
	ToolStatuses map[string]int `json:"tool_statuses"`
	StopReasons  map[string]int `json:"stop_reasons"`
	// TrajectoryErrors counts the trajectories with an Error;
	// GradeErrors the records with a GradeError.
	TrajectoryErrors int `json:"trajectory_errors"`
	GradeErrors      int `json:"grade_errors"`
}

// AtK is pass@k or maj@k over Problems problems.
type AtK struct {
	K        int     `json:"k"`
	Value    float64 `json:"value"`
	Problems int     `json:"problems"`
}

// Dist describes a distribution; the quantiles interpolate linearly
// between order statistics. All zero when Count is 0.
type Dist struct {
	Count  int     `json:"count"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Rate is Hits out of Total.
type Rate struct {
	Hits  int     `json:"hits"`
	Total int     `json:"total"`
	Rate  float64 `json:"rate"`
}

// ToolStat is one language's calls (skipped ones apart).
type ToolStat struct {
	Language    string  `json:"language"`
	Calls       int     `json:"calls"`
	Finished    int     `json:"finished"`
	SuccessRate float64 `json:"success_rate"`
	Responses   int     `json:"responses"` // responses that called it
}

// StatusFinished is the status of a call that ran without error.
const StatusFinished = "finished"

// Summarize scores records. ks are the k of pass@k and maj@k; none: 1, 2,
// 4, … up to the largest number of samples of a problem, and that number.
func Summarize(records []Record, ks []int) Summary {
	ks = normalizeKs(ks, records)
	s := Summary{Ks: ks, Overall: metrics(OverallName, records, ks), Datasets: []Metrics{}}
	byDataset := map[string][]Record{}
	var names []string
	for _, r := range records {
		if _, ok := byDataset[r.Dataset]; !ok {
			names = append(names, r.Dataset)
		}
		byDataset[r.Dataset] = append(byDataset[r.Dataset], r)
	}
	sort.Strings(names)
	for _, n := range names {
		s.Datasets = append(s.Datasets, metrics(n, byDataset[n], ks))
	}
	return s
}

func normalizeKs(ks []int, records []Record) []int {
	out := []int{}
	for _, k := range ks {
		if k > 0 {
			out = append(out, k)
		}
	}
	if len(ks) == 0 {
		maxN := 0
		for _, p := range groupProblems(records) {
			maxN = max(maxN, len(p.samples))
		}
		for k := 1; k <= maxN; k *= 2 {
			out = append(out, k)
		}
		if maxN > 0 {
			out = append(out, maxN)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type problem struct {
	samples    []Record // by sample, then record order
	duplicates int
}

// groupProblems groups by (data set, problem), keeping the first record
// of each sample.
func groupProblems(records []Record) []*problem {
	type key struct{ dataset, problem string }
	type sampleKey struct {
		key
		sample int
	}
	byKey := map[key]*problem{}
	seen := map[sampleKey]bool{}
	var out []*problem
	for _, r := range records {
		k := key{r.Dataset, r.Problem}
		p := byKey[k]
		if p == nil {
			p = &problem{}
			byKey[k] = p
			out = append(out, p)
		}
		sk := sampleKey{k, r.Trajectory.Sample}
		if seen[sk] {
			p.duplicates++
			continue
		}
		seen[sk] = true
		p.samples = append(p.samples, r)
	}
	for _, p := range out {
		slices.SortStableFunc(p.samples, func(a, b Record) int { return cmp.Compare(a.Trajectory.Sample, b.Trajectory.Sample) })
	}
	return out
}

func metrics(name string, records []Record, ks []int) Metrics {
	m := Metrics{Dataset: name, PassAtK: []AtK{}, MajAtK: []AtK{}, Tools: []ToolStat{},
		ToolStatuses: map[string]int{}, StopReasons: map[string]int{}}
	problems := groupProblems(records)
	m.Problems = len(problems)
	var kept []Record
	for i, p := range problems {
		m.Duplicates += p.duplicates
		n := len(p.samples)
		if i == 0 || n < m.MinSamples {
			m.MinSamples = n
		}
		m.MaxSamples = max(m.MaxSamples, n)
		kept = append(kept, p.samples...)
	}
	m.Samples = len(kept)

	// Accuracy.
	for _, r := range kept {
		if r.Correct() {
			m.Correct++
		}
	}
	m.PassAt1 = ratio(m.Correct, m.Samples)
	for _, k := range ks {
		var pass, maj float64
		count := 0
		for _, p := range problems {
			n := len(p.samples)
			if n < k {
				continue
			}
			c := 0
			for _, r := range p.samples {
				if r.Correct() {
					c++
				}
			}
			count++
			pass += PassAtK(n, c, k)
			if MajorityCorrect(p.samples[:k]) {
				maj++
			}
		}
		if count > 0 {
			m.PassAtK = append(m.PassAtK, AtK{K: k, Value: pass / float64(count), Problems: count})
			m.MajAtK = append(m.MajAtK, AtK{K: k, Value: maj / float64(count), Problems: count})
		}
	}

	// The paper's analysis.
	var chars, tokens, positions []float64
	codeLines := 0
	tools := map[string]*ToolStat{}
	for _, r := range kept {
		t := &r.Trajectory
		chars = append(chars, float64(utf8.RuneCountInString(t.Response)))
		if n, ok := modelTokens(t.Segments); ok {
			tokens = append(tokens, float64(n))
		}
		if t.Response == "" {
			m.EmptyResponses++
		}
		m.StopReasons[t.StopReason]++
		if t.Error != "" {
			m.TrajectoryErrors++
		}
		if r.GradeError != "" {
			m.GradeErrors++
		}

		calls := ranCalls(t.ToolCalls)
		m.SkippedCalls += len(t.ToolCalls) - len(calls)
		for _, c := range t.ToolCalls {
			m.ToolStatuses[c.Status]++
		}
		if len(calls) == 0 {
			continue
		}
		m.CodeResponses++
		m.ToolCalls += len(calls)
		used := map[string]bool{}
		for _, c := range calls {
			codeLines += CodeLines(c.Code)
			ts := countCall(tools, c)
			if c.Status == StatusFinished {
				m.CorrectCode++
			}
			if !used[c.Language] {
				used[c.Language] = true
				ts.Responses++
			}
		}
		last := &m.LastCodePassIncorrect
		if r.Correct() {
			last = &m.LastCodePassCorrect
		}
		last.Total++
		if calls[len(calls)-1].Status == StatusFinished {
			last.Hits++
		}
		if len(t.Response) > 0 {
			positions = append(positions, math.Min(1, math.Max(0, float64(calls[0].Position)/float64(len(t.Response)))))
		}
		if n := SelfCorrections(t.ToolCalls); n > 0 {
			m.SelfCorrections += n
			m.SelfCorrecting++
		}
	}
	m.ResponseChars = distribution(chars)
	if len(tokens) > 0 {
		d := distribution(tokens)
		m.ResponseTokens = &d
	}
	m.CodeRatio = ratio(m.CodeResponses, m.Samples)
	m.CodeLines = ratio(codeLines, m.Samples)
	m.CodeLinesWithCode = ratio(codeLines, m.CodeResponses)
	m.ToolCallsPerResponse = ratio(m.ToolCalls, m.Samples)
	m.LastCodePassCorrect.Rate = ratio(m.LastCodePassCorrect.Hits, m.LastCodePassCorrect.Total)
	m.LastCodePassIncorrect.Rate = ratio(m.LastCodePassIncorrect.Hits, m.LastCodePassIncorrect.Total)
	m.CodePosition = distribution(positions)
	m.SelfCorrectionShare = ratio(m.SelfCorrecting, m.Samples)
	for _, ts := range tools {
		ts.SuccessRate = ratio(ts.Finished, ts.Calls)
		m.Tools = append(m.Tools, *ts)
	}
	slices.SortFunc(m.Tools, func(a, b ToolStat) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), strings.Compare(a.Language, b.Language))
	})
	return m
}

// PassAtK is the unbiased estimate of pass@k for one problem with n
// samples of which c are correct: 1 − C(n−c, k)/C(n, k), computed as
// 1 − ∏_{i=n−c+1}^{n} (1 − k/i). It is 0 for k > n.
func PassAtK(n, c, k int) float64 {
	if k < 1 || k > n || c <= 0 {
		return 0
	}
	if n-c < k {
		return 1
	}
	prod := 1.0
	for i := n - c + 1; i <= n; i++ {
		prod *= 1 - float64(k)/float64(i)
	}
	return 1 - prod
}

// MajorityCorrect votes over the samples' answers (reward.Normalize of
// the extracted answer; empty answers do not vote): the most frequent
// wins, a tie goes to the answer seen first, and the vote is correct if
// the record that first gave the winning answer was graded correct. No
// answer at all is incorrect.
func MajorityCorrect(samples []Record) bool {
	counts := map[string]int{}
	first := map[string]int{}
	best := ""
	for i, r := range samples {
		a := reward.Normalize(r.Grade.Extracted)
		if a == "" {
			continue
		}
		if _, ok := first[a]; !ok {
			first[a] = i
		}
		counts[a]++
		if best == "" || counts[a] > counts[best] || (counts[a] == counts[best] && first[a] < first[best]) {
			best = a
		}
	}
	if best == "" {
		return false
	}
	return samples[first[best]].Correct()
}

// SelfCorrections counts the runs of failed calls (status neither
// "finished" nor "skipped") that a finished call follows later.
func SelfCorrections(calls []rollout.ToolCall) int {
	n := 0
	failed := false
	for _, c := range calls {
		switch c.Status {
		case rollout.StatusSkipped:
		case StatusFinished:
			if failed {
				n++
			}
			failed = false
		default:
			failed = true
		}
	}
	return n
}

// CodeLines counts the non-blank lines of code.
func CodeLines(code string) int {
	n := 0
	for line := range strings.Lines(code) {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// ranCalls returns the calls that were run (not skipped).
func ranCalls(calls []rollout.ToolCall) []rollout.ToolCall {
	var out []rollout.ToolCall
	for _, c := range calls {
		if c.Status != rollout.StatusSkipped {
			out = append(out, c)
		}
	}
	return out
}

// modelTokens counts the tokens of the model segments; ok is false when
// none carries tokens.
func modelTokens(segs []rollout.Segment) (n int, ok bool) {
	for _, s := range segs {
		if s.Source != rollout.SourceModel {
			continue
		}
		t := max(len(s.TokenIDs), len(s.Tokens))
		if t > 0 {
			ok = true
		}
		n += t
	}
	return n, ok
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func distribution(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return Dist{Count: len(s), Mean: sum / float64(len(s)), Median: quantile(s, 0.5), P90: quantile(s, 0.9), Min: s[0], Max: s[len(s)-1]}
}

// quantile of sorted s, interpolating linearly (numpy's default).
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// countCall adds a call to its language's tally.
func countCall(tools map[string]*ToolStat, c rollout.ToolCall) *ToolStat {
	ts := tools[c.Language]
	if ts == nil {
		ts = &ToolStat{Language: c.Language}
		tools[c.Language] = ts
	}
	ts.Calls++
	if c.Status == StatusFinished {
		ts.Finished++
	}
	return ts
}
