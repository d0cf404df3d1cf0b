package main

import (
	"sort"
	"time"
)

// Timing is the result of timing one operation: per-call durations of each
// repetition (each repetition runs the operation Iters times back to back).
type Timing struct {
	MedianNs float64   `json:"median_ns"`
	MinNs    float64   `json:"min_ns"`
	MaxNs    float64   `json:"max_ns"`
	RepsNs   []float64 `json:"reps_ns"`
	Iters    int       `json:"iters_per_rep"`
}

const (
	numReps      = 7                      // repetitions whose median is reported (>= 5)
	targetRepDur = 150 * time.Millisecond // each repetition runs at least this long
	warmupDur    = 300 * time.Millisecond // warm-up before timing
)

// measure warms fn up, picks an iteration count so that one repetition takes
// about targetRepDur, and returns per-call statistics over numReps repetitions.
func measure(fn func()) Timing { return measureReps(fn, numReps) }

// measureReps is measure with an explicit number of repetitions (>= 5).
func measureReps(fn func(), reps int) Timing {
	// Warm-up: at least 2 calls and at least warmupDur.
	start := time.Now()
	calls := 0
	for calls < 2 || time.Since(start) < warmupDur {
		fn()
		calls++
	}
	perCall := time.Since(start) / time.Duration(calls)
	iters := int(targetRepDur / max(perCall, time.Nanosecond))
	iters = max(iters, 1)

	repNs := make([]float64, reps)
	for r := range repNs {
		t0 := time.Now()
		for range iters {
			fn()
		}
		repNs[r] = float64(time.Since(t0).Nanoseconds()) / float64(iters)
	}
	sorted := append([]float64(nil), repNs...)
	sort.Float64s(sorted)
	return Timing{
		MedianNs: sorted[len(sorted)/2],
		MinNs:    sorted[0],
		MaxNs:    sorted[len(sorted)-1],
		RepsNs:   repNs,
		Iters:    iters,
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// measureGroup times several implementations of the same operation with
// their repetitions interleaved (rep 1 of every implementation, then rep 2,
// ...), so that interference from other processes on the machine is spread
// across all of them instead of hitting whichever ran at the wrong moment.
func measureGroup(fns []func(), reps int) []Timing {
	iters := make([]int, len(fns))
	for i, fn := range fns {
		start := time.Now()
		calls := 0
		for calls < 2 || time.Since(start) < warmupDur {
			fn()
			calls++
		}
		perCall := time.Since(start) / time.Duration(calls)
		iters[i] = max(1, int(targetRepDur/max(perCall, time.Nanosecond)))
	}
	repNs := make([][]float64, len(fns))
	for r := 0; r < reps; r++ {
		for i, fn := range fns {
			t0 := time.Now()
			for range iters[i] {
				fn()
			}
			repNs[i] = append(repNs[i], float64(time.Since(t0).Nanoseconds())/float64(iters[i]))
		}
	}
	out := make([]Timing, len(fns))
	for i := range fns {
		s := append([]float64(nil), repNs[i]...)
		sort.Float64s(s)
		out[i] = Timing{MedianNs: s[len(s)/2], MinNs: s[0], MaxNs: s[len(s)-1], RepsNs: repNs[i], Iters: iters[i]}
	}
	return out
}
