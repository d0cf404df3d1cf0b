// Command retool-runtime-js is an example third-party runtime plugin: it
// runs JavaScript with Node.js (/usr/bin/node, or settings.interpreter).
// It is written only against retool's plugin SDK (plugins/sdk). Node cannot fork safely,
// so each worker is a pre-started interpreter used for one execution.
package main

import (
	_ "embed"

	"github.com/retool-rl/retool/plugins/sdk"
)

// version of this plugin (independent of retool's).
const version = "0.1.0"

//go:embed driver.js
var driverScript []byte

func main() {
	sdk.Serve(&sdk.WarmRuntime{
		Meta: sdk.Info{Name: "js", Version: version, Languages: []string{"javascript", "js", "nodejs"},
			Capabilities: []string{"prespawn", "stdin"}},
		Driver: nodeDriver,
	})
}

func nodeDriver(values map[string]string) (sdk.Driver, error) {
	node, home, err := sdk.FindInterpreter(values, "node")
	if err != nil {
		return sdk.Driver{}, err
	}
	return sdk.Driver{
		Mode: sdk.Prespawn,
		Path: node,
		Args: []string{node, "/.retool/driver.js"},
		Env:  []string{"HOME=/tmp"},
		// Files are placed read-only under /.retool/ in the sandbox.
		Files: map[string][]byte{"driver.js": driverScript},
		// A node outside the system directories (nvm, /opt/node-vX) needs
		// its installation visible; for /usr/bin/node this is /usr again.
		ReadOnlyPaths: []string{home},
	}, nil
}
