// Command retool-runtime-julia runs Julia code with a `julia` found on
// PATH or configured (settings.interpreter). Julia's runtime cannot fork
// safely, so each worker is a pre-started interpreter used once.
package main

import (
	_ "embed"
	"os/exec"
	"path/filepath"

	"github.com/retool-rl/retool/core/pool"
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

func juliaDriver(values map[string]string) (pool.Driver, error) {
	def := "julia"
	if p, err := exec.LookPath("julia"); err == nil {
		def = p
	}
	jl, err := sdk.Interpreter(values, def)
	if err != nil {
		return pool.Driver{}, err
	}
	real, err := filepath.EvalSymlinks(jl)
	if err != nil {
		return pool.Driver{}, err
	}
	// Julia lives outside the system dirs (/opt/julia-x.y/bin/julia): its
	// whole installation must be visible in the sandbox.
	home := filepath.Dir(filepath.Dir(real))
	return pool.Driver{
		Mode:          pool.Prespawn,
		Path:          real,
		Args:          []string{real, "--startup-file=no", "--history-file=no", "/.retool/driver.jl"},
		Env:           []string{"JULIA_DEPOT_PATH=/tmp/julia-depot:", "HOME=/tmp"},
		Files:         map[string][]byte{"driver.jl": driverScript},
		ReadOnlyPaths: []string{home},
	}, nil
}
