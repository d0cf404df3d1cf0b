package main

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// summary is what a table row shows of a set of outcomes.
type summary struct {
	Requests     int            `json:"requests"` // sent, cut ones included
	OK           int            `json:"ok"`
	Wrong        int            `json:"wrong"`
	Failed       int            `json:"failed"`
	SandboxError int            `json:"sandbox_error"`
	HTTPError    int            `json:"http_error"`
	Rejected     int            `json:"rejected"`
	Timeout      int            `json:"timeout"`
	Transport    int            `json:"transport"`
	Cut          int            `json:"cut"`
	Retries429   int            `json:"retries_429"`
	Retries503   int            `json:"retries_503"`
	ElapsedS     float64        `json:"elapsed_s"`
	Throughput   float64        `json:"throughput_per_s"` // correct executions per second
	MeanMs       float64        `json:"mean_ms"`
	MinMs        float64        `json:"min_ms"`
	P50Ms        float64        `json:"p50_ms"`
	P90Ms        float64        `json:"p90_ms"`
	P99Ms        float64        `json:"p99_ms"`
	P999Ms       float64        `json:"p99_9_ms"`
	MaxMs        float64        `json:"max_ms"`
	LowerBounds  []string       `json:"lower_bounds,omitempty"` // percentiles that cut requests make lower bounds
	Statuses     map[string]int `json:"statuses,omitempty"`     // status/run_status of the answers
	Examples     []string       `json:"examples,omitempty"`
	// BusyBefore: the CPUs were not idle when the run started (something
	// else running on the machine, or work a server left behind).
	BusyBefore bool `json:"busy_before,omitempty"` // a few answers that were not ok
}

// errors counts the requests that were sent, not cut, and not correct.
func (s summary) errors() int { return s.Requests - s.OK - s.Cut }

// lost counts the requests that never got an answer.
func (s summary) lost() int { return s.Timeout + s.Transport }

const maxExamples = 5

// summarize computes a summary of outs over elapsed wall time. Latency
// percentiles cover every request of outs, cut ones included at the time
// they were cut: such a value is only a lower bound, and so is every
// percentile at or above the rank of the fastest cut request (listed in
// LowerBounds). The mean covers the answered requests only.
func summarize(outs []outcome, elapsed time.Duration) summary {
	s := summary{Requests: len(outs), ElapsedS: elapsed.Seconds(), Statuses: map[string]int{}}
	samples := make([]sample, 0, len(outs))
	for _, o := range outs {
		s.count(o)
		samples = append(samples, sample{d: o.latency(), censored: o.Kind == kindCut})
	}
	if elapsed > 0 {
		s.Throughput = float64(s.OK) / elapsed.Seconds()
	}
	s.setLatencies(samples)
	return s
}

// sample is one request's latency; censored when the request was cut, so
// that its true latency is at least d.
type sample struct {
	d        time.Duration
	censored bool
}

func (s *summary) count(o outcome) {
	s.Retries429 += o.Retries429
	s.Retries503 += o.Retries503
	if o.Status != "" {
		s.Statuses[o.Status+"/"+o.RunStatus]++
	}
	switch o.Kind {
	case kindOK:
		s.OK++
	case kindWrong:
		s.Wrong++
	case kindFailed:
		s.Failed++
	case kindSandboxError:
		s.SandboxError++
	case kindHTTPError:
		s.HTTPError++
	case kindRejected:
		s.Rejected++
	case kindTimeout:
		s.Timeout++
	case kindTransport:
		s.Transport++
	case kindCut:
		s.Cut++
	}
	if o.Kind != kindOK && o.Kind != kindCut && len(s.Examples) < maxExamples {
		s.Examples = append(s.Examples, string(o.Kind)+": "+o.Detail)
	}
}

func (s *summary) setLatencies(samples []sample) {
	if len(samples) == 0 {
		return
	}
	slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.d, b.d) })
	firstCensored := slices.IndexFunc(samples, func(x sample) bool { return x.censored })
	var total time.Duration
	answered := 0
	for _, x := range samples {
		if !x.censored {
			total += x.d
			answered++
		}
	}
	if answered > 0 {
		s.MeanMs = ms(total / time.Duration(answered))
	}
	s.MinMs = ms(samples[0].d)
	for _, p := range []struct {
		name string
		p    float64
		dst  *float64
	}{{"p50", 50, &s.P50Ms}, {"p90", 90, &s.P90Ms}, {"p99", 99, &s.P99Ms}, {"p99.9", 99.9, &s.P999Ms}, {"max", 100, &s.MaxMs}} {
		i := rank(len(samples), p.p)
		*p.dst = ms(samples[i].d)
		if firstCensored >= 0 && i >= firstCensored {
			s.LowerBounds = append(s.LowerBounds, p.name)
		}
	}
}

// rank is the index of the nearest-rank percentile p of n sorted values.
func rank(n int, p float64) int {
	r := int(math.Ceil(p / 100 * float64(n)))
	return min(max(r, 1), n) - 1
}

// bound is "≥" when the percentile name is only a lower bound.
func (s summary) bound(name string) string {
	if slices.Contains(s.LowerBounds, name) {
		return "≥"
	}
	return ""
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// span is the wall time from the first start to the last answer that
// was not cut: the time the run kept the server busy.
func span(outs []outcome) time.Duration {
	var first, last time.Duration = -1, 0
	for _, o := range outs {
		if first < 0 || o.Start < first {
			first = o.Start
		}
		if o.Kind != kindCut && o.End > last {
			last = o.End
		}
	}
	if first < 0 || last < first {
		return 0
	}
	return last - first
}

// filter keeps the outcomes tagged tag.
func filter(outs []outcome, tag string) []outcome {
	var out []outcome
	for _, o := range outs {
		if o.Tag == tag {
			out = append(out, o)
		}
	}
	return out
}

// medianSummary combines the summaries of repeated runs: the median of
// each rate and latency figure, the sum of each count.
func medianSummary(runs []summary) summary {
	if len(runs) == 1 {
		return runs[0]
	}
	m := summary{Statuses: map[string]int{}}
	for _, r := range runs {
		m.add(r)
	}
	for _, f := range []struct {
		dst *float64
		get func(summary) float64
	}{
		{&m.ElapsedS, func(s summary) float64 { return s.ElapsedS }},
		{&m.Throughput, func(s summary) float64 { return s.Throughput }},
		{&m.MeanMs, func(s summary) float64 { return s.MeanMs }},
		{&m.MinMs, func(s summary) float64 { return s.MinMs }},
		{&m.P50Ms, func(s summary) float64 { return s.P50Ms }},
		{&m.P90Ms, func(s summary) float64 { return s.P90Ms }},
		{&m.P99Ms, func(s summary) float64 { return s.P99Ms }},
		{&m.P999Ms, func(s summary) float64 { return s.P999Ms }},
		{&m.MaxMs, func(s summary) float64 { return s.MaxMs }},
	} {
		*f.dst = median(runs, f.get)
	}
	return m
}

// add sums r's counts into s.
func (s *summary) add(r summary) {
	s.Requests += r.Requests
	s.OK += r.OK
	s.Wrong += r.Wrong
	s.Failed += r.Failed
	s.SandboxError += r.SandboxError
	s.HTTPError += r.HTTPError
	s.Rejected += r.Rejected
	s.Timeout += r.Timeout
	s.Transport += r.Transport
	s.Cut += r.Cut
	s.Retries429 += r.Retries429
	s.Retries503 += r.Retries503
	for k, v := range r.Statuses {
		s.Statuses[k] += v
	}
	for _, lb := range r.LowerBounds {
		if !slices.Contains(s.LowerBounds, lb) {
			s.LowerBounds = append(s.LowerBounds, lb)
		}
	}
	s.Examples = append(s.Examples, r.Examples[:min(len(r.Examples), maxExamples-len(s.Examples))]...)
	s.BusyBefore = s.BusyBefore || r.BusyBefore
}

func median(runs []summary, get func(summary) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = get(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
