//go:build !openblas

package main

// Without the openblas build tag there is nothing to compare against:
// main prints how to run the benchmark and exits 2. This keeps `go build
// ./...` and `go vet ./...` working on machines without OpenBLAS.
