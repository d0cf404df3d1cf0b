// Command retool-runtime-sympy is Python with SymPy, mpmath and numpy
// imported once in the warm worker and `from sympy import *` in every
// execution's globals, so that factorint(...) works without an import.
package main

import (
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/runtimes/python/driver"
)

func main() { sdk.Serve(driver.Runtime(driver.Sympy)) }
