//go:build openblas

package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>

*/
import "C"

import "unsafe"

// openblas calls cblas_sgemm from the system OpenBLAS (Debian:
// libopenblas-dev), its thread count set before every call.
type openblas struct{}

func init() { blas = openblas{} }

func (openblas) Name() string {
	return C.GoString(C.openblas_get_config()) + " (core " + C.GoString(C.openblas_get_corename()) + ")"
}

// Sgemm computes C = op(A)·op(B) with beta = 0, row-major, in the layout
// of the linalg function named by kind.
func (openblas) Sgemm(kind string, c, a, b []float32, m, k, n, threads int) {
	C.openblas_set_num_threads(C.int(threads))
	var ta, tb C.enum_CBLAS_TRANSPOSE = C.CblasNoTrans, C.CblasNoTrans
	lda, ldb := k, n
	switch kind {
	case "MatMulBT": // B is n×k
		tb, ldb = C.CblasTrans, k
	case "MatMulAT": // A is k×m
		ta, lda = C.CblasTrans, m
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		1, (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		0, (*C.float)(unsafe.Pointer(&c[0])), C.blasint(n))
}
