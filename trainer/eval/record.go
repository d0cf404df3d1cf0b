// Package eval scores rollouts: one Record per trajectory (written as
// JSONL as they finish), and the summary the ReTool paper reports —
// pass@1 as avg@n, pass@k, maj@k, tool choice and success, response
// length, code ratio and lines, correct code, last-code pass rates,
// invocation position, self-corrections — with a markdown report and
// PNG plots. It runs nothing itself.
package eval

import (
	"github.com/retool-rl/retool/trainer/reward"
	"github.com/retool-rl/retool/trainer/rollout"
)

// Record is one graded trajectory, one JSONL line of an eval run.
type Record struct {
	Dataset    string             `json:"dataset"`
	Problem    string             `json:"problem_id"`
	Answer     string             `json:"answer"` // ground truth
	Trajectory rollout.Trajectory `json:"trajectory"`
	Grade      reward.Result      `json:"grade"`
	GradeError string             `json:"grade_error,omitempty"`
}

// Correct reports whether the trajectory's answer was graded right.
func (r *Record) Correct() bool { return r.Grade.Reward > 0 }
