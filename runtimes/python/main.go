// Command retool-runtime-python is the built-in Python runtime plugin:
// Debian's python3 with numpy preloaded in a warm fork server.
package main

import (
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/runtimes/python/driver"
)

func main() {
	sdk.Serve(driver.Runtime(driver.Options{
		Name: "python", Languages: []string{"python", "python3"},
		Preload: []string{"math", "fractions", "itertools", "numpy"},
	}))
}
