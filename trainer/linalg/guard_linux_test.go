package linalg

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a slice of n float32s that ends exactly where an
// inaccessible page begins: a kernel that reads or writes one element
// past it faults instead of silently using whatever lies there. That is
// the check the masked tail loads and stores need.
func guarded(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	end := size - page
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[end-4*n])), n)
}

func TestNoReadPastEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range []shape{{1, 1, 1}, {1, 7, 3}, {3, 17, 5}, {5, 33, 31}, {13, 9, 47}, {1, 130, 267}, {17, 65, 33}} {
		a, b := guarded(t, s.m*s.k), guarded(t, s.k*s.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		for _, acc := range []bool{false, true} {
			p := &problem{m: s.m, k: s.k, n: s.n, acc: acc, a: a, b: b, c: make([]float32, s.m*s.n)}
			for i := range p.c {
				p.c[i] = float32(rng.NormFloat64())
			}
			for _, o := range ops {
				want, tol := p.ref(o)
				for _, i := range isas() {
					setISA(t, i)
					c := guarded(t, s.m*s.n)
					copy(c, p.c)
					o.fn(c, a, b, s.m, s.k, s.n, acc)
					p.verify(t, fmt.Sprintf("guarded %s/%v m=%d k=%d n=%d acc=%v", o.name, i, s.m, s.k, s.n, acc), c, want, tol)
				}
			}
		}
		for _, i := range isas() {
			setISA(t, i)
			x, y := guarded(t, s.k), guarded(t, s.k)
			copy(x, a)
			Axpy(0.5, x, y)
			_ = Dot(x, y)
		}
	}
}
