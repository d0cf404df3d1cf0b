// Command gomlx measures GoMLX v0.26 (pure-Go "simplego" backend) against
// gonum and plain Go loops for the numeric work of training a tiny
// transformer on CPU: matmul throughput, an MLP training step (autodiff vs
// hand-written backward), and graph compile / recompile-on-new-shape cost.
//
// Run with `cd bench/gomlx && go run .`; raw numbers go to
// ../results/gomlx.json (override with -json).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends/simplego"
)

// Results is the JSON document written to bench/results/gomlx.json.
type Results struct {
	When        string         `json:"when"`
	GoVersion   string         `json:"go_version"`
	GOOS        string         `json:"goos"`
	GOARCH      string         `json:"goarch"`
	CPU         string         `json:"cpu"`
	NumCPU      int            `json:"num_cpu"`
	GOMAXPROCS  int            `json:"gomaxprocs"`
	Backend     string         `json:"backend"`
	GoMLX       string         `json:"gomlx_version"`
	Gonum       string         `json:"gonum_version"`
	Method      string         `json:"method"`
	Matmul      []MatmulResult `json:"matmul"`
	MLP         MLPResult      `json:"mlp_train_step"`
	Transformer ShapesResult   `json:"transformer_compile_and_shapes"`
	TotalSec    float64        `json:"total_run_seconds"`
	Contention  []Contention   `json:"machine_contention"`
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func main() {
	jsonPath := flag.String("json", "../results/gomlx.json", "where to write the raw results (empty: don't write)")
	quick := flag.Bool("quick", false, "skip the transformer sequence-length sweep except one length")
	flag.Parse()

	runtime.GOMAXPROCS(2)
	start := time.Now()
	backend, err := simplego.New("")
	if err != nil {
		panic(err)
	}
	defer backend.Finalize()

	res := Results{
		When: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPU: cpuModel(), NumCPU: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), Backend: backend.Name() + " (" + backend.Description() + ")",
		GoMLX: "v0.26.0", Gonum: "v0.17.0",
		Method: fmt.Sprintf("per operation: warm-up >=%v, then %d repetitions of >=%v each; median per-call time reported",
			warmupDur, numReps, targetRepDur),
	}
	fmt.Printf("%s, %s, GOMAXPROCS=%d, backend %s\n", res.CPU, res.GoVersion, res.GOMAXPROCS, res.Backend)

	section := func(name string, fn func()) {
		s0 := snapCPU()
		fn()
		c := contentionSince(name, s0)
		res.Contention = append(res.Contention, c)
		fmt.Printf("[%s: %.1fs, this process %.2f cores, other processes %.2f cores, loadavg %s]\n",
			name, c.Seconds, c.SelfCores, c.OtherCores, c.LoadAvg1)
	}
	section("matmul", func() {
		for _, s := range [][3]int{{128, 128, 128}, {256, 128, 344}, {256, 128, 267}, {512, 512, 512}} {
			res.Matmul = append(res.Matmul, benchMatmul(backend, s[0], s[1], s[2]))
		}
	})
	section("mlp", func() { res.MLP = benchMLP(backend) })
	seqLens := []int{32, 64, 65, 128}
	if *quick {
		seqLens = []int{32}
	}
	section("transformer", func() { res.Transformer = benchShapes(backend, seqLens) })
	res.TotalSec = time.Since(start).Seconds()

	printTables(&res)
	if *jsonPath != "" {
		b, err := json.MarshalIndent(&res, "", "  ")
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			panic(err)
		}
		fmt.Println("wrote", *jsonPath)
	}
}

func printTables(r *Results) {
	fmt.Println("\n### Matmul GFLOP/s (float32 unless noted; median of reps, best rep in parentheses)")
	fmt.Println("| shape (m×k · k×n) | GoMLX simplego | gonum blas32 Sgemm | gonum mat.Dense Mul (f64) | Go loop i-k-j | Go loop i-j-k |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, m := range r.Matmul {
		fmt.Printf("| %d×%d · %d×%d |", m.M, m.K, m.K, m.N)
		for _, name := range matmulImpls {
			fmt.Printf(" %.2f (%.2f) |", m.GFlops[name], m.Flop/m.Impls[name].MinNs)
		}
		fmt.Println()
	}
	fmt.Println("\n### MLP training step (batch 256, 128→344→128, SiLU, MSE, SGD)")
	fmt.Println("| implementation | ms/step (median) | best rep ms | effective GFLOP/s (median) |")
	fmt.Println("|---|---|---|---|")
	for _, name := range mlpImpls {
		fmt.Printf("| %s | %.2f | %.2f | %.2f |\n", name, r.MLP.MsPerStep[name], r.MLP.Impls[name].MinNs/1e6, r.MLP.GFlops[name])
	}
	fmt.Println("\n### Transformer (6 layers, d=128, batch 4) compile vs step")
	fmt.Println("| seq len | build+compile ms | first exec ms | steady ms/step | tokens/s | ~GFLOP/s | compile as % of a step |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, s := range r.Transformer.PerSeqLen {
		fmt.Printf("| %d | %.1f | %.1f | %.1f | %.0f | %.2f | %.2f |\n", s.SeqLen, s.PreCompileMs, s.FirstExecMs,
			s.SteadyStepMs, s.TokensPerSec, s.ApproxGFlops, 100*s.RecompileSteps)
	}
	fmt.Printf("total run: %.1f s\n", r.TotalSec)
}
