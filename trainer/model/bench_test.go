package model

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchConfig is the benchmarks' model: d=128, 4 layers, 4 heads, f=344,
// 256 positions (about 1.0M parameters).
func benchConfig() Config {
	return Config{HiddenSize: 128, IntermediateSize: 344, NumHiddenLayers: 4, NumAttentionHeads: 4, MaxPositionEmbeddings: 256, ValueHead: true}
}

const benchT = 256

func benchSeqs(n int) [][]int {
	return randomSeqs(rand.New(rand.NewPCG(1, 1)), n, benchT, benchT, VocabSize)
}

// BenchmarkTrain measures Accumulate (forward and backward) over a batch
// of two 256-token sequences per core, data parallel.
func BenchmarkTrain(b *testing.B) {
	m := newModelT(b, benchConfig(), 1)
	seqs := benchSeqs(2 * runtime.GOMAXPROCS(0))
	fn := func(_ int, o Output) Grads {
		g := make([]float32, len(o.Logp))
		v := make([]float32, len(o.Logp))
		for i := range g {
			g[i], v[i] = -1e-3, 1e-3
		}
		return Grads{Logp: g, Value: v}
	}
	m.ZeroGrad()
	for b.Loop() {
		if err := m.Accumulate(seqs, fn); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(seqs)*benchT)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkForward measures Forward (no gradients: old log-probabilities,
// a reference model) over the same batch.
func BenchmarkForward(b *testing.B) {
	m := newModelT(b, benchConfig(), 1)
	seqs := benchSeqs(2 * runtime.GOMAXPROCS(0))
	for b.Loop() {
		if _, err := m.Forward(seqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(seqs)*benchT)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkSample measures single-stream sampling (temperature 1, top-p
// 0.95). kv-cache decodes positions 1..255 one token at a time; no-cache
// is the baseline recomputing the whole prefix for each new token, over
// positions 224..255 (at a quarter of the cost of a full run), and
// kv-cache-224 the cache over those same positions. prefill is one
// 256-token Append.
func BenchmarkSample(b *testing.B) {
	m := newModelT(b, benchConfig(), 1)
	seq := benchSeqs(1)[0]
	sm := sampler{temp: 1, topP: 0.95, rng: rand.New(rand.NewPCG(1, 1))}
	// The sampled token is drawn (its cost counts) but a fixed sequence is
	// fed, so that EOS never cuts a run short.
	decode := func(b *testing.B, c *Cache, from int) {
		for pos := from; pos < benchT; pos++ {
			logits, err := c.Append(seq[pos-1 : pos])
			if err != nil {
				b.Fatal(err)
			}
			sm.sample(logits)
		}
	}
	b.Run("kv-cache", func(b *testing.B) {
		for b.Loop() {
			decode(b, m.NewCache(), 1)
		}
		b.ReportMetric(float64(b.N*(benchT-1))/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("kv-cache-224", func(b *testing.B) {
		var busy time.Duration
		for b.Loop() {
			c := m.NewCache()
			if _, err := c.Append(seq[:223]); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			decode(b, c, 224)
			busy += time.Since(start)
		}
		b.ReportMetric(float64(b.N*(benchT-224))/busy.Seconds(), "tokens/s")
	})
	b.Run("no-cache", func(b *testing.B) {
		for b.Loop() {
			for pos := 224; pos < benchT; pos++ {
				logits, err := m.NewCache().Append(seq[:pos])
				if err != nil {
					b.Fatal(err)
				}
				sm.sample(logits)
			}
		}
		b.ReportMetric(float64(b.N*(benchT-224))/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("prefill", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.NewCache().Append(seq); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchT)/b.Elapsed().Seconds(), "tokens/s")
	})
}

// BenchmarkSampleParallel measures aggregate decoding throughput with one
// stream per core, as the embedded policy runs concurrent rollouts.
func BenchmarkSampleParallel(b *testing.B) {
	m := newModelT(b, benchConfig(), 1)
	seq := benchSeqs(1)[0]
	streams := runtime.GOMAXPROCS(0)
	for b.Loop() {
		var wg sync.WaitGroup
		for k := range streams {
			wg.Go(func() {
				sm := sampler{temp: 1, topP: 0.95, rng: rand.New(rand.NewPCG(uint64(k), 1))}
				c := m.NewCache()
				for pos := 1; pos < benchT; pos++ {
					logits, err := c.Append(seq[pos-1 : pos])
					if err != nil {
						panic(err)
					}
					sm.sample(logits)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*streams*(benchT-1))/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkDecoder measures aggregate sampling throughput of 64
// concurrent generations (as in rollouts) of up to 128 tokens after a
// 64-token prompt: through a Decoder that batches their decode steps, and
// directly, each on its own goroutine with GOMAXPROCS running at once.
func BenchmarkDecoder(b *testing.B) {
	m := newModelT(b, benchConfig(), 1)
	prompts := randomSeqs(rand.New(rand.NewPCG(2, 2)), 64, 64, 64, 256)
	run := func(b *testing.B, gen func(ctx context.Context, prompt []int, s Sampling) (*Generation, error)) {
		var tokens atomic.Int64
		for b.Loop() {
			var wg sync.WaitGroup
			for i, p := range prompts {
				wg.Go(func() {
					g, err := gen(context.Background(), p, Sampling{Temperature: 1, TopP: 0.95, MaxTokens: 128, Rand: rand.New(rand.NewPCG(uint64(i), 0))})
					if err != nil {
						panic(err)
					}
					tokens.Add(int64(len(g.Tokens)))
				})
			}
			wg.Wait()
		}
		b.ReportMetric(float64(tokens.Load())/b.Elapsed().Seconds(), "tokens/s")
	}
	b.Run("batched", func(b *testing.B) {
		d := m.NewDecoder(runtime.GOMAXPROCS(0), 0)
		defer d.Close()
		run(b, func(ctx context.Context, p []int, s Sampling) (*Generation, error) { return d.Generate(ctx, nil, p, s) })
	})
	b.Run("direct", func(b *testing.B) {
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		run(b, func(ctx context.Context, p []int, s Sampling) (*Generation, error) {
			sem <- struct{}{}
			defer func() { <-sem }()
			return m.Generate(ctx, nil, p, s)
		})
	})
}
