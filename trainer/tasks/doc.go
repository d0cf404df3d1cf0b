// Package tasks generates arithmetic and algebra problems with exact answers
// and cold-start traces for them in the ReTool format, for the miniature
// reproduction: a tiny byte-level model that must learn to hand to the
// interpreter what it cannot compute in its head.
//
// A Generator draws problems from named families (Families). Each family
// has a kind: "tool" problems need exact computation beyond a tiny model
// (4817 * 9323, 7^123 mod 1000), "text" problems are easy enough to answer
// directly (3 + 5), and "symbolic" problems are best served by SymPy
// (roots, coefficients, exact rational sums). Ground truths are computed
// in Go with math/big and written in a form that trainer/reward grades
// exactly.
//
// Held-out evaluation needs problems the model cannot have memorized: the
// operands of a problem decide by a hash whether it belongs to training or
// to the held-out splits, so held-out numbers never occur in training, and
// each family keeps some question phrasings back for the
// "heldout-phrasing" split.
//
// ColdStart turns problems into traces: model text and code blocks laid out
// as the rollout engine records a response with the retool-mini template.
// This package runs no code. The caller runs each Block in the sandbox,
// stores what the engine would show as its Output, then keeps the traces
// whose Check passes: the boxed answer is copied from the real output, so a
// trace is correct only if the code really computes the answer.
package tasks
