package reward

import (
	"context"
	"errors"
)

// Options configure Reward.
type Options struct {
	// Strict is DAPO-compatible strict mode: only the last "Answer:" line (or
	// else the last \boxed) in the last 300 characters, exact match of the
	// Normalize forms, no symbolic or numeric reasoning.
	Strict bool
	// Symbolic decides what the built-in checks cannot; nil skips it.
	Symbolic Symbolic
	// Lenient adds ToRA's extraction fallbacks ("the answer is", the last
	// program output, the last number). The paper's reward gives −1 when no
	// answer is marked, so it is off by default.
	Lenient bool
}

// Result is the outcome reward of one response.
type Result struct {
	Reward    float64 `json:"reward"`
	Extracted string  `json:"extracted"`
	Method    Method  `json:"method"`
	Verdict   Verdict `json:"verdict"`
}

// ErrNoGroundTruth is returned when the ground truth is empty.
var ErrNoGroundTruth = errors.New("reward: empty ground truth")

// Reward is the paper's outcome reward: +1 if equivalent, -1 otherwise (also
// -1 when nothing can be extracted). An error means the reward could not be
// decided reliably (empty ground truth, cancelled context, failing Symbolic
// checker); the Result then still carries −1.
func Reward(ctx context.Context, response, groundTruth string, opts Options) (Result, error) {
	res := Result{Reward: -1, Verdict: Verdict{Method: "none"}}
	if Normalize(groundTruth) == "" {
		res.Verdict.Detail = "empty ground truth"
		return res, ErrNoGroundTruth
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	var (
		ans string
		ok  bool
	)
	switch {
	case opts.Strict:
		ans, res.Method, ok = ExtractStrict(response)
	case opts.Lenient:
		ans, res.Method, ok = ExtractLenient(response)
	default:
		ans, res.Method, ok = Extract(response)
	}
	res.Extracted = ans
	if !ok {
		res.Verdict.Detail = "no answer found"
		return res, nil
	}
	if opts.Strict {
		ng, nw := Normalize(ans), Normalize(groundTruth)
		res.Verdict = Verdict{Equal: ng != "" && ng == nw, Method: "normalized", Detail: "strict: " + ng + " vs " + nw}
	} else {
		v, err := Equivalent(ctx, ans, groundTruth, opts.Symbolic)
		res.Verdict = v
		if err != nil {
			return res, err
		}
	}
	if res.Verdict.Equal {
		res.Reward = 1
	}
	return res, nil
}
