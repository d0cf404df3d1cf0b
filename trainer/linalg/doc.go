// Package linalg holds the dense float32 kernels the embedded model is
// built on: matrix products in the three layouts a linear layer needs
// (forward, input gradient, weight gradient) and the vector helpers of
// attention. Matrices are row-major and contiguous.
package linalg
