// Package policy holds the Policy seam of the trainer — what generates
// text — and its implementations: a client for OpenAI-compatible
// completion servers (vLLM, SGLang, llama.cpp's server, Ollama) now, the
// embedded CPU model later. It knows nothing of tools or rewards.
package policy

import "context"

// Request asks for completions of one prompt.
type Request struct {
	Prompt      string
	Stop        []string
	MaxTokens   int
	Temperature float64
	TopP        float64
	// N is the number of completions wanted for this prompt (at least 1).
	N int
	// Logprobs asks for the sampled tokens and their log-probabilities.
	Logprobs bool
	Seed     *int64
}

// Completion is one generated continuation.
type Completion struct {
	Text string
	// Tokens and Logprobs are per sampled token when asked for; TokenIDs
	// when the policy knows its vocabulary (the embedded model does).
	Tokens   []string
	TokenIDs []int
	Logprobs []float64
	// FinishReason is "stop" (end of sequence or a stop sequence) or
	// "length" (max tokens).
	FinishReason string
	// StopSequence is the stop sequence that ended the text, when known.
	StopSequence string
}

// Policy generates text. Implementations are safe for concurrent use.
type Policy interface {
	Generate(ctx context.Context, req Request) ([]Completion, error)
}
