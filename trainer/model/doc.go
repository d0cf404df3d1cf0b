// Package model is the embedded CPU policy: a small decoder-only
// transformer in the Llama style (RMSNorm, rotary embeddings, causal
// softmax attention, SwiGLU, pre-norm residual blocks, no biases) with an
// optional scalar value head for PPO, its byte-level tokenizer, training
// (forward and backward, data parallel over sequences, AdamW), inference
// with a KV cache, sampling and batched decoding (Decoder), and
// checkpoints in Hugging Face's layout (model.safetensors with
// LlamaForCausalLM's tensor names, config.json, tokenizer.json), so that
// a checkpoint loads in transformers.
//
// Everything is float32 on the CPU, built on trainer/linalg. The sizes
// this is meant for are a few million to some tens of millions of
// parameters; Config.MemoryBytes tells whether a configuration fits.
//
// Concurrency: Forward, Generate, a Decoder and Cache operations only
// read the weights and may run concurrently with one another (a Cache is
// used by one goroutine at a time), and alongside Accumulate, which
// writes only the gradients. Accumulate, ZeroGrad, ClipGradNorm and
// AdamW.Step must not overlap with each other, and nothing may run while
// AdamW.Step updates the weights. Caches filled before a step are stale
// after it: Generate empties them, Append refuses them.
package model
