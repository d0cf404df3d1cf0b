package algo

import "github.com/retool-rl/retool/trainer/model"

// ModelLearner is the embedded model with its optimizer as a Learner.
type ModelLearner struct {
	*model.Model
	Opt *model.AdamW
}

var _ Learner = ModelLearner{}

// ApplyGrads takes an AdamW step.
func (l ModelLearner) ApplyGrads(lr float64) { l.Opt.Step(lr) }
