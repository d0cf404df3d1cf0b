package model

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// DefaultMaxBatch is the decode batch size of NewDecoder's default: past
// about 32 sequences, the per-sequence attention and the caches' memory
// traffic outweigh the shared weight reads.
const DefaultMaxBatch = 32

// A Decoder runs the forward passes of concurrent generations on a fixed
// set of workers: a prefill runs alone on one worker, and the
// single-token decode steps waiting when a worker comes free run as one
// batch, whose linear layers read each weight once for the whole batch.
// On a CPU, decoding one sequence is bound by reading the weights, so
// batching many concurrent generations (rollouts) multiplies throughput.
//
// The workers also bound the compute: however many goroutines call
// Generate, at most `workers` forward passes run at once. A Decoder is
// safe for concurrent use; Close stops it.
type Decoder struct {
	m        *Model
	maxBatch int
	steps    chan *stepReq
	prefills chan *prefillReq
	quit     chan struct{}
	closing  sync.Once
	wg       sync.WaitGroup
	workers  int
	// active counts the generations in Generate: how many steps a worker
	// may expect to batch.
	active atomic.Int64
}

type stepReq struct {
	c    *Cache
	tok  int
	solo bool // run alone, for bit-reproducible results
	done chan struct{}
}

type prefillReq struct {
	c      *Cache
	tokens []int
	logits []float32
	err    error
	done   chan struct{}
}

// NewDecoder starts workers goroutines (at least 1) that batch up to
// maxBatch decode steps each (0: DefaultMaxBatch).
func (m *Model) NewDecoder(workers, maxBatch int) *Decoder {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	d := &Decoder{
		m: m, maxBatch: maxBatch, workers: max(1, workers),
		steps:    make(chan *stepReq),
		prefills: make(chan *prefillReq),
		quit:     make(chan struct{}),
	}
	for range d.workers {
		d.wg.Go(d.work)
	}
	return d
}

// Close stops the workers, after the passes in progress. Generations
// still running fail.
func (d *Decoder) Close() {
	d.closing.Do(func() { close(d.quit) })
	d.wg.Wait()
}

var errDecoderClosed = errors.New("model: decoder closed")

// Generate is Model.Generate with the forward passes run by the
// decoder's workers. Unless Sampling.Reproducible is set, the decode steps
// are batched with those of other generations, which changes the order
// of floating-point sums: results match an unbatched run to rounding,
// not bit for bit.
func (d *Decoder) Generate(ctx context.Context, c *Cache, prompt []int, s Sampling) (*Generation, error) {
	d.active.Add(1)
	defer d.active.Add(-1)
	g, err := d.m.generate(ctx, c, prompt, s, decoderStepper{d, s.Reproducible})
	if err != nil {
		return nil, fmt.Errorf("model: generate: %w", err)
	}
	return g, nil
}

// Prefill appends tokens to c on one of the decoder's workers (for
// instance a prompt shared by several samples, before cloning c).
func (d *Decoder) Prefill(ctx context.Context, c *Cache, tokens []int) error {
	if c.m != d.m {
		return errors.New("model: prefill: the cache belongs to another model")
	}
	if _, err := (decoderStepper{d: d}).prefill(ctx, c, tokens); err != nil {
		return fmt.Errorf("model: prefill: %w", err)
	}
	return nil
}

type decoderStepper struct {
	d    *Decoder
	solo bool
}

func (s decoderStepper) prefill(ctx context.Context, c *Cache, tokens []int) ([]float32, error) {
	if err := c.check(tokens); err != nil {
		return nil, err
	}
	r := &prefillReq{c: c, tokens: tokens, done: make(chan struct{})}
	select {
	case s.d.prefills <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.d.quit:
		return nil, errDecoderClosed
	}
	// The worker owns the cache until done: wait for it whatever ctx says.
	<-r.done
	return r.logits, r.err
}

func (s decoderStepper) decode(ctx context.Context, c *Cache, tok int) ([]float32, error) {
	if err := c.check([]int{tok}); err != nil {
		return nil, err
	}
	r := &stepReq{c: c, tok: tok, solo: s.solo, done: make(chan struct{})}
	select {
	case s.d.steps <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.d.quit:
		return nil, errDecoderClosed
	}
	<-r.done
	return c.logits, nil
}

// maxYields bounds how often a worker yields waiting for a batch to fill.
const maxYields = 20

// drain takes up to n waiting steps without blocking.
func (d *Decoder) drain(add func(*stepReq), n int) {
	for ; n > 0; n-- {
		select {
		case r := <-d.steps:
			add(r)
		default:
			return
		}
	}
}

func (d *Decoder) work() {
	var sc batchScratch
	var batch, solo []*stepReq
	var caches []*Cache
	var toks []int
	for {
		select {
		case <-d.quit:
			return
		case r := <-d.prefills:
			r.logits, r.err = r.c.append(r.tokens)
			close(r.done)
		case r := <-d.steps:
			batch, solo = batch[:0], solo[:0]
			add := func(r *stepReq) {
				if r.solo {
					solo = append(solo, r)
				} else {
					batch = append(batch, r)
				}
			}
			add(r)
			// The generations whose steps just finished are sampling their
			// next tokens: yield to them (a few times at most, should some
			// be prefilling or done) until this worker's share of them has
			// queued up, rather than run batches of one.
			target := min(d.maxBatch, int(d.active.Load()+int64(d.workers)-1)/d.workers)
			for tries := 0; ; tries++ {
				d.drain(add, d.maxBatch-len(batch)-len(solo))
				if len(batch)+len(solo) >= target || tries == maxYields {
					break
				}
				runtime.Gosched()
			}
			for _, r := range solo {
				d.m.decodeBatch([]*Cache{r.c}, []int{r.tok}, &sc)
				close(r.done)
			}
			if len(batch) > 0 {
				caches, toks = caches[:0], toks[:0]
				for _, r := range batch {
					caches = append(caches, r.c)
					toks = append(toks, r.tok)
				}
				d.m.decodeBatch(caches, toks, &sc)
				for _, r := range batch {
					close(r.done)
				}
			}
		}
	}
}
