// Package data loads math problems for rollouts and evaluation from JSONL and
// Parquet (verl's layout: data_source, prompt as a chat, reward_model.ground_truth)
// through a field Mapping, and exposes the shared sets (AIME 2024/2025,
// MATH-500, GSM8K, DAPO-Math-17k) by name. It also deduplicates and splits.
package data
