// Package rollout runs the ReTool loop for many trajectories at once: the
// policy generates until a tool call, the code runs through an Executor,
// the interpreter's output is appended and generation resumes. It keeps
// each trajectory's segments (model or interpreter text, tokens, log-probs,
// loss mask) and tool calls; it does not grade answers or train.
package rollout
