package linalg

//go:generate go run ./internal/asmgen -out kernels_amd64.s
