package linalg

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// parMinFlops: below this many flops (≈ 25 µs of one core's work) a
// product runs on the calling goroutine alone: handing a block to another
// core costs a few microseconds even when its helper is awake.
var parMinFlops = 1 << 22

// par splits C into at most workers blocks and computes them
// concurrently. It splits columns, in multiples of 32 (a whole number of
// kernel panels for every ISA), when there are enough of them: each
// worker then packs only its own part of B, and m = 1 still splits. It
// splits rows otherwise.
func par(m, n, k int, a []float32, lda int, aT bool, b []float32, ldb int, bT bool, c []float32, ldc int, acc bool, workers int) {
	const align = 32
	if workers > 1 && 2*m*n*k < parMinFlops {
		workers = 1
	}
	byCols := n >= align*workers || m < workers
	if byCols {
		workers = min(workers, (n+align-1)/align)
	} else {
		workers = min(workers, m)
	}
	if workers <= 1 {
		run(m, n, k, a, lda, aT, b, ldb, bT, c, ldc, acc)
		return
	}
	blocks := make([]func(), workers)
	if byCols {
		panels := (n + align - 1) / align
		j0 := 0
		for w := range blocks {
			j1 := min(n, (panels*(w+1)/workers)*align)
			var bw []float32
			if bT {
				bw = b[j0*ldb:]
			} else {
				bw = b[j0:]
			}
			cw, nw := c[j0:], j1-j0
			blocks[w] = func() { run(m, nw, k, a, lda, aT, bw, ldb, bT, cw, ldc, acc) }
			j0 = j1
		}
	} else {
		i0 := 0
		for w := range blocks {
			i1 := m * (w + 1) / workers
			var aw []float32
			if aT {
				aw = a[i0:]
			} else {
				aw = a[i0*lda:]
			}
			cw, mw := c[i0*ldc:], i1-i0
			blocks[w] = func() { run(mw, n, k, aw, lda, aT, b, ldb, bT, cw, ldc, acc) }
			i0 = i1
		}
	}
	parRun(blocks)
}

// Why not one goroutine per block: on the VMs this runs on, a goroutine
// handed to an idle core starts 100-150 µs later (the idle thread sleeps
// in the kernel and its virtual CPU halts), longer than a model-sized
// product takes: the blocks ran one after the other, and Par* was slower
// than the single-threaded call. OpenBLAS avoids this with worker
// threads that spin between calls; so do we, within limits:
//
//   - helper goroutines, started once, spin (yielding to the scheduler)
//     for parSpin after their last block before they park, so calls in
//     quick succession find them awake;
//   - the caller offers each block to a helper, computes its own block,
//     then takes back every block no helper has started and computes it
//     too. It waits only for blocks already running, so a parked or
//     busy helper costs at worst the single-threaded time, never a
//     wake-up latency and never a deadlock (GOMAXPROCS = 1 included).

// parSpin is how long an idle helper stays awake.
var parSpin = time.Millisecond

type parTask struct {
	fn       func()
	finished atomic.Bool
}

type helper struct {
	slot   atomic.Pointer[parTask] // a block offered to this helper
	parked atomic.Bool
	wake   chan struct{} // capacity 1
}

var (
	helpersMu sync.Mutex
	helpers   []*helper
)

// getHelpers returns n helpers, starting any that do not exist yet.
func getHelpers(n int) []*helper {
	helpersMu.Lock()
	defer helpersMu.Unlock()
	for len(helpers) < n {
		h := &helper{wake: make(chan struct{}, 1)}
		helpers = append(helpers, h)
		go h.loop()
	}
	return helpers[:n:n]
}

func (h *helper) loop() {
	for {
		idle := time.Now()
		for spins := 1; ; spins++ {
			if t := h.slot.Swap(nil); t != nil {
				t.fn()
				t.finished.Store(true)
				idle = time.Now()
				continue
			}
			if spins%64 == 0 && time.Since(idle) > parSpin {
				break
			}
			runtime.Gosched()
		}
		// Park. Announce it before the last look at the slot: an offer
		// made after that look sees parked and sends a wake-up.
		h.parked.Store(true)
		if t := h.slot.Swap(nil); t != nil {
			h.parked.Store(false)
			t.fn()
			t.finished.Store(true)
			continue
		}
		<-h.wake
		h.parked.Store(false)
	}
}

// offer hands t to h unless h already holds an unstarted block.
func (h *helper) offer(t *parTask) bool {
	if !h.slot.CompareAndSwap(nil, t) {
		return false
	}
	if h.parked.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// parRun runs the blocks concurrently: the last on the calling goroutine,
// the others offered to helpers (see above). It returns when all are done.
func parRun(blocks []func()) {
	last := len(blocks) - 1
	hs := getHelpers(last)
	tasks := make([]parTask, last)
	offered := make([]bool, last)
	for i := range tasks {
		tasks[i].fn = blocks[i]
		offered[i] = hs[i].offer(&tasks[i])
	}
	blocks[last]()
	for i := range tasks {
		t := &tasks[i]
		if !offered[i] || hs[i].slot.CompareAndSwap(t, nil) {
			t.fn() // no helper started it: do it here
			continue
		}
		for !t.finished.Load() {
			runtime.Gosched()
		}
	}
}
