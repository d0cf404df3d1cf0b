// Package algo holds the RL algorithms of the trainer — GRPO (the
// default, as the ReTool recipe's README recommends) and PPO with a value
// head — and supervised fine-tuning for the cold start. They see
// trajectories as token sequences with a loss mask (interpreter and prompt
// tokens 0) and a reward, and drive a Learner: the embedded model, or any
// learner that can score sequences and take gradients with respect to the
// log-probabilities of the tokens it generated.
package algo
