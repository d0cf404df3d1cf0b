// Command retool-runtime-julia runs Julia code with a `julia` found on
// PATH or configured (settings.interpreter). Julia's runtime cannot fork
// safely, so each worker is a pre-started interpreter used once.
package main

import (
	_ "embed"

	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/version"
)

//go:embed driver.jl
var driverScript []byte

func main() {
	sdk.Serve(&sdk.WarmRuntime{
		Meta: sdk.Info{Name: "julia", Version: version.Version, Languages: []string{"julia"},
			Capabilities: []string{"prespawn", "stdin"}},
		Driver: juliaDriver,
	})
}

func juliaDriver(values map[string]string) (sdk.Driver, error) {
	// Julia lives outside the system dirs (/opt/julia-x.y/bin/julia): its
	// whole installation must be visible in the sandbox.
	real, home, err := sdk.FindInterpreter(values, "julia")
	if err != nil {
		return sdk.Driver{}, err
	}
	return sdk.Driver{
		Mode:          sdk.Prespawn,
		Path:          real,
		Args:          []string{real, "--startup-file=no", "--history-file=no", "/.retool/driver.jl"},
		Env:           []string{"JULIA_DEPOT_PATH=/tmp/julia-depot:", "HOME=/tmp"},
		Files:         map[string][]byte{"driver.jl": driverScript},
		ReadOnlyPaths: []string{home},
	}, nil
}
