package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// snippet is one kind of request with the exact stdout a correct
// execution prints.
type snippet struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Code     string `json:"code"`
	Want     string `json:"want"`
}

// request builds the /run_code body verl would send for s.
func (s snippet) request(runTimeout float64, memoryMB int) runCodeRequest {
	return runCodeRequest{
		Code: s.Code, Language: s.Language,
		CompileTimeout: 10, RunTimeout: runTimeout, MemoryLimitMB: memoryMB,
		Files: map[string]string{}, FetchFiles: []string{},
	}
}

// printSnippet is the cheapest execution there is.
func printSnippet() snippet {
	return snippet{Name: "print", Language: "python", Code: "print(1+1)", Want: "2\n"}
}

// sympySnippet needs SymPy, which the sympy runtime keeps imported.
func sympySnippet() snippet {
	return snippet{
		Name: "sympy", Language: "sympy", Code: "print(factorint(2**64-1))",
		Want: "{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}\n",
	}
}

// cpuSnippet is a pure-Python busy loop of iters iterations.
func cpuSnippet(iters int) snippet {
	sum := int64(iters) * int64(iters-1) / 2
	return snippet{
		Name: "cpu50ms", Language: "python",
		Code: fmt.Sprintf("s = 0\nfor i in range(%d):\n    s += i\nprint(s)\n", iters),
		Want: strconv.FormatInt(sum, 10) + "\n",
	}
}

// calibrationScript times the cpuSnippet loop at module level (as the
// snippet runs) and prints the iterations that take target seconds.
const calibrationScript = `
import time
code = "s = 0\nfor i in range(%%d):\n    s += i\n"
n = 200000
best = None
for _ in range(5):
    g = {}
    t = time.perf_counter()
    exec(code %% n, g)
    d = time.perf_counter() - t
    best = d if best is None else min(best, d)
print(int(n * %f / best))
`

// calibrateCPU returns the loop iterations that take about target of
// CPU in a fresh interpreter on this machine (best of five).
func calibrateCPU(ctx context.Context, python string, target time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	script := fmt.Sprintf(calibrationScript, target.Seconds())
	out, err := exec.CommandContext(ctx, python, "-c", script).Output()
	if err != nil {
		return 0, fmt.Errorf("calibrate the CPU snippet with %s: %w", python, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("calibrate the CPU snippet: unexpected output %q", out)
	}
	return n, nil
}

// hostileSnippets are the abuse mixed into normal traffic in the hostile
// run. Their output is not checked; only the server's survival and the
// normal traffic's latency are.
func hostileSnippets() []snippet {
	return []snippet{
		{Name: "fork-bomb", Language: "python",
			Code: "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"},
		{Name: "memory-bomb", Language: "python",
			Code: "x = []\nwhile True:\n    x.append(b'x' * (1 << 24))\n"},
		{Name: "output-flood", Language: "python",
			Code: "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n"},
	}
}
