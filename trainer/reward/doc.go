// Package reward extracts final answers from model responses (\boxed{…},
// <answer>…</answer>, DAPO's "Answer:" line, GSM8K's "####"), decides whether
// two answers are the same mathematical object (exact big.Rat arithmetic, a
// canonical form for radicals, π and polynomials, an optional Symbolic checker
// such as SymPy), and computes ReTool's ±1 outcome reward.
package reward
