package sdk

import (
	"os/exec"
	"path/filepath"

	"github.com/retool-rl/retool/core/pool"
)

// Driver describes the interpreter program of a WarmRuntime: what runs in
// each sandboxed worker and how it turns into executions.
type Driver = pool.Driver

// Driver modes.
const (
	// ForkServer drivers speak the zygote protocol on fd 3 and fork a fresh
	// child per execution (see runtimes/python/driver/zygote.py).
	ForkServer = pool.ForkServer
	// Prespawn drivers read their code from fd 3, run it once with fds 0-2
	// as stdio and exit; a worker is started ahead of each execution.
	Prespawn = pool.Prespawn
)

// FindInterpreter returns the interpreter for a runtime: the "interpreter"
// setting, else program looked up on PATH, with symlinks resolved; and
// its installation directory (two levels above the binary), which a
// runtime outside the system directories adds to Driver.ReadOnlyPaths.
func FindInterpreter(values map[string]string, program string) (path, home string, err error) {
	def := program
	if p, err := exec.LookPath(program); err == nil {
		def = p
	}
	path, err = Interpreter(values, def)
	if err != nil {
		return "", "", err
	}
	if path, err = filepath.EvalSymlinks(path); err != nil {
		return "", "", err
	}
	return path, filepath.Dir(filepath.Dir(path)), nil
}
