// Package driver embeds the Python fork-server driver and builds the
// python and sympy runtimes on it: they differ only in what the warm
// interpreter imports before it forks.
package driver

import (
	_ "embed"
	"strings"

	"github.com/retool-rl/retool/core/pool"
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/version"
)

//go:embed zygote.py
var zygote []byte

// Debian's interpreter: the python3 first on PATH may be a pyenv shim that
// costs ~100 ms a start and lacks Debian's packages.
const defaultInterpreter = "/usr/bin/python3"

// Options say what a Python-based runtime preloads.
type Options struct {
	Name      string
	Languages []string
	// Preload is imported once in the zygote when available.
	Preload []string
	// StarImport modules are imported with `from M import *` into every
	// execution's globals (and must be available).
	StarImport []string
}

// The built-in runtimes. Python stays lean: every module a zygote holds
// makes each fork and exit dearer (numpy's mappings cost ~0.5 ms of CPU per
// execution here), so numpy is imported on use unless a runtime block
// says settings = { preload = "numpy" }. SymPy's runtime exists to have
// SymPy warm.
var (
	Python = Options{Name: "python", Languages: []string{"python", "python3"},
		Preload: []string{"math", "fractions", "itertools", "collections", "re"}}
	Sympy = Options{Name: "sympy", Languages: []string{"sympy"},
		Preload: []string{"sympy", "mpmath", "numpy"}, StarImport: []string{"sympy"}}
)

// Runtime returns the runtime for o.
func Runtime(o Options) *sdk.WarmRuntime {
	return &sdk.WarmRuntime{
		Meta: sdk.Info{
			Name: o.Name, Version: version.Version, Languages: o.Languages,
			Capabilities: []string{"fork-pool", "files", "stdin", "sessions"},
		},
		Driver: func(values map[string]string) (pool.Driver, error) {
			py, err := sdk.Interpreter(values, defaultInterpreter)
			if err != nil {
				return pool.Driver{}, err
			}
			preload := o.Preload
			if v, ok := values["preload"]; ok {
				preload = strings.Split(v, ",")
			}
			return pool.Driver{
				Mode: pool.ForkServer,
				Path: py,
				Args: []string{py, "-I", "/.retool/zygote.py"},
				Env: []string{
					"RETOOL_PRELOAD=" + strings.Join(preload, ","),
					"RETOOL_STAR_IMPORT=" + strings.Join(o.StarImport, ","),
					// The zygote's shared objects resolve every symbol as
					// they load, once: lazily bound, each child resolved
					// the ones it first called and copied the pages of
					// the tables it wrote (13 of ~377 faults an execution).
					// The zygote drops it from the environment user code
					// sees.
					"LD_BIND_NOW=1",
				},
				Files: map[string][]byte{"zygote.py": zygote},
			}, nil
		},
	}
}
