// Package recipe is ReTool in miniature: the train job of retool.hcl. It
// generates problems where a tool matters, runs a cold start on
// code-integrated traces whose interpreter output comes from the real
// sandbox, trains the embedded model with RL through the real rollout
// engine and sandbox, evaluates it on held-out problems, and writes a run
// directory with metrics, checkpoints, sample trajectories and a report
// comparing the untrained model, the cold start, text-only RL and ReTool
// RL over several seeds.
package recipe
