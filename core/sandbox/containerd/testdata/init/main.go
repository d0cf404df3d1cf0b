// Command init is a static container init for the tests' images that
// lack the host's C library: core/sandbox's init runs before main.
package main

import _ "github.com/retool-rl/retool/core/sandbox"

func main() {}
