// Package execution holds the plain Go types of one code execution —
// request, limits, result and status — shared by the orchestrator, the
// plugin SDK and the pool. It has no behaviour beyond validation.
package execution
