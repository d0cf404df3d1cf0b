// Package pool keeps warm, sandboxed interpreters for one runtime and runs
// executions on them: a fork server (zygote) that forks a fresh child per
// execution, or pre-spawned one-shot interpreters for languages that
// cannot fork. It enforces wall time and the output cap itself and maps
// what the kernel reports onto an execution.Result.
package pool
