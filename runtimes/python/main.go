// Command retool-runtime-python is the built-in Python runtime plugin:
// Debian's python3 in a warm, sandboxed fork server.
package main

import (
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/runtimes/python/driver"
)

func main() { sdk.Serve(driver.Runtime(driver.Python)) }
