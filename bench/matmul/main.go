// Command matmul measures trainer/linalg's float32 matrix products against
// OpenBLAS's cblas_sgemm on the shapes the embedded model uses, single-
// threaded (our kernels vs OpenBLAS with 1 thread) and parallel (our Par*
// functions with N workers vs OpenBLAS with N threads), and writes
// matmul.md and matmul.json.
//
// It needs OpenBLAS and cgo, so the comparison is behind a build tag:
//
//	apt-get install -y libopenblas-dev
//	go run -tags openblas ./bench/matmul -out bench/results
//
// Without the tag the program says so and exits 2.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/retool-rl/retool/trainer/linalg"
)

// backend is the library compared against (openblas.go, tag openblas).
type backend interface {
	Name() string
	// Sgemm computes C = op(A)·op(B) in the layout of the linalg
	// function named kind, on the given number of threads.
	Sgemm(kind string, c, a, b []float32, m, k, n, threads int)
}

var blas backend

// shape is one product of the model.
type shape struct {
	Group string `json:"group"`
	What  string `json:"what"`
	Kind  string `json:"kind"` // MatMul, MatMulBT or MatMulAT
	M     int    `json:"m"`
	K     int    `json:"k"`
	N     int    `json:"n"`
	Model bool   `json:"model"` // counts toward the model summary
}

type parResult struct {
	Threads int     `json:"threads"`
	Ours    float64 `json:"ours_gflops"`
	BLAS    float64 `json:"openblas_gflops"`
	Ratio   float64 `json:"ratio_pct"`
}

type result struct {
	shape
	Ours1  float64 `json:"ours_1t_gflops"`
	BLAS1  float64 `json:"openblas_1t_gflops"`
	Ratio1 float64 `json:"ratio_1t_pct"`
	// The same single-threaded runs timed by the process's CPU time
	// rather than the wall clock: on a shared machine this leaves out
	// the time spent waiting for a core. Zero where unsupported.
	Ours1CPU  float64     `json:"ours_1t_cpu_gflops"`
	BLAS1CPU  float64     `json:"openblas_1t_cpu_gflops"`
	Ratio1CPU float64     `json:"ratio_1t_cpu_pct"`
	OursNs    float64     `json:"ours_1t_ns_per_call"`
	Par       []parResult `json:"parallel"`
	MaxDiff   float64     `json:"max_rel_diff_vs_openblas"`
	// IdleBefore is the fraction of CPU time idle just before the shape
	// was measured (see waitIdle); below 0.9 the machine was busy.
	IdleBefore float64 `json:"cpu_idle_before"`
	// OthersLoad is the share of the machine's CPU time that other
	// processes used while this shape was measured (from /proc/stat
	// minus this process's CPU time; -1 when unknown). The parallel
	// columns need both cores: above ~0.1 they were shared.
	OthersLoad float64 `json:"others_cpu_share_during"`
}

type report struct {
	Date      string   `json:"date"`
	CPU       string   `json:"cpu"`
	NumCPU    int      `json:"num_cpu"`
	Go        string   `json:"go"`
	GOARCH    string   `json:"goarch"`
	ISA       string   `json:"linalg_isa"`
	OpenBLAS  string   `json:"openblas"`
	LoadStart string   `json:"loadavg_start"`
	LoadEnd   string   `json:"loadavg_end"`
	Reps      int      `json:"reps"`
	MinRep    string   `json:"min_rep_duration"`
	Command   string   `json:"command"`
	Results   []result `json:"results"`
	Summary   summary  `json:"summary"`
}

type summary struct {
	ModelShapes  int     `json:"model_shapes"`
	GeoMean1     float64 `json:"geomean_ratio_1t_pct"`
	Min1         float64 `json:"min_ratio_1t_pct"`
	MinShape1    string  `json:"min_ratio_1t_shape"`
	AtLeast30Pct int     `json:"model_shapes_at_least_30pct_1t"`
	GeoMeanPar   float64 `json:"geomean_ratio_par_pct"`
	GeoMean1CPU  float64 `json:"geomean_ratio_1t_cpu_pct"`
	Min1CPU      float64 `json:"min_ratio_1t_cpu_pct"`
}

func main() {
	out := flag.String("out", "bench/results", "directory for matmul.md and matmul.json")
	threads := flag.String("threads", "2", "comma-separated worker/thread counts for the parallel comparison")
	models := flag.String("models", "64:172:128,128:344:512", "model configs as d:ffn:tokens, comma-separated")
	vocab := flag.Int("vocab", 267, "vocabulary size (lm head)")
	reps := flag.Int("reps", 9, "timed repetitions per measurement; the median is reported")
	minRep := flag.Duration("rep", 20*time.Millisecond, "minimum duration of one repetition")
	quick := flag.Bool("quick", false, "3 repetitions of 5ms (a smoke run)")
	idleWait := flag.Duration("idle-wait", 10*time.Second, "before each shape, wait up to this long for the CPUs to be idle")
	cooldown := flag.Duration("cooldown", 150*time.Millisecond, "pause after each multi-threaded OpenBLAS run, for its spinning worker threads to go to sleep")
	flag.Parse()
	if blas == nil {
		fmt.Fprintln(os.Stderr, `bench/matmul compares trainer/linalg with OpenBLAS and needs it (and cgo):

	apt-get install -y libopenblas-dev
	go run -tags openblas ./bench/matmul -out bench/results [-threads 2] [-reps 9]

This binary was built without the "openblas" tag.`)
		os.Exit(2)
	}
	if *quick {
		*reps, *minRep = 3, 5*time.Millisecond
	}
	var par []int
	for _, s := range strings.Split(*threads, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || t < 1 {
			fatalf("bad -threads %q", *threads)
		}
		par = append(par, t)
	}
	shapes, err := modelShapes(*models, *vocab)
	if err != nil {
		fatalf("%v", err)
	}
	rep := report{
		Date: time.Now().UTC().Format(time.RFC3339), CPU: cpuModel(), NumCPU: runtime.NumCPU(),
		Go: runtime.Version(), GOARCH: runtime.GOARCH, ISA: linalg.ISA(), OpenBLAS: blas.Name(),
		LoadStart: loadavg(), Reps: *reps, MinRep: minRep.String(),
		Command: "go run -tags openblas ./bench/matmul " + strings.Join(os.Args[1:], " "),
	}
	fmt.Printf("linalg %s vs %s, %d reps ≥ %v each, median GFLOP/s\n", rep.ISA, rep.OpenBLAS, *reps, *minRep)
	for _, s := range shapes {
		idle := waitIdle(*idleWait)
		r := measureShape(s, par, *reps, *minRep, *cooldown)
		r.IdleBefore = idle
		fmt.Printf("%-12s %-28s %-8s %4d×%4d×%4d  ours %6.1f  openblas %6.1f  %5.0f%%", s.Group, s.What, s.Kind, s.M, s.K, s.N, r.Ours1, r.BLAS1, r.Ratio1)
		for _, p := range r.Par {
			fmt.Printf(" | %dT ours %6.1f openblas %6.1f %5.0f%%", p.Threads, p.Ours, p.BLAS, p.Ratio)
		}
		fmt.Println()
		rep.Results = append(rep.Results, r)
	}
	rep.LoadEnd = loadavg()
	rep.Summary = summarize(rep.Results)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatalf("%v", err)
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "matmul.json"), append(js, '\n'), 0o644); err != nil {
		fatalf("%v", err)
	}
	if err := os.WriteFile(filepath.Join(*out, "matmul.md"), []byte(markdown(rep, par)), 0o644); err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(*out, "matmul.md"), filepath.Join(*out, "matmul.json"))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/matmul: "+format+"\n", args...)
	os.Exit(1)
}

// modelShapes lists, for each model config, the products of one layer
// (attention projections d→d, FFN d→f and f→d, lm head d→V) in the three
// places they occur (forward MatMulBT, input gradient MatMul, weight
// gradient MatMulAT) and in decoding (m = 1), then the 256³ and 512³
// squares.
func modelShapes(models string, V int) ([]shape, error) {
	var out []shape
	for _, cfg := range strings.Split(models, ",") {
		var d, f, T int
		if _, err := fmt.Sscanf(strings.TrimSpace(cfg), "%d:%d:%d", &d, &f, &T); err != nil || d < 1 || f < 1 || T < 1 {
			return nil, fmt.Errorf("bad model config %q (want d:ffn:tokens)", cfg)
		}
		tag := fmt.Sprintf("d=%d", d)
		out = append(out,
			shape{"forward " + tag, "attn proj T×d·(d×d)ᵀ", "MatMulBT", T, d, d, true},
			shape{"forward " + tag, "FFN up T×d·(f×d)ᵀ", "MatMulBT", T, d, f, true},
			shape{"forward " + tag, "FFN down T×f·(d×f)ᵀ", "MatMulBT", T, f, d, true},
			shape{"forward " + tag, "lm head T×d·(V×d)ᵀ", "MatMulBT", T, d, V, true},
			shape{"input grad " + tag, "attn dX = dY·W", "MatMul", T, d, d, true},
			shape{"input grad " + tag, "FFN up dX = dY·W", "MatMul", T, f, d, true},
			shape{"input grad " + tag, "FFN down dX = dY·W", "MatMul", T, d, f, true},
			shape{"input grad " + tag, "lm head dX = dY·W", "MatMul", T, V, d, true},
			shape{"weight grad " + tag, "attn dW = dYᵀ·X", "MatMulAT", d, T, d, true},
			shape{"weight grad " + tag, "FFN up dW = dYᵀ·X", "MatMulAT", f, T, d, true},
			shape{"weight grad " + tag, "FFN down dW = dYᵀ·X", "MatMulAT", d, T, f, true},
			shape{"weight grad " + tag, "lm head dW = dYᵀ·X", "MatMulAT", V, T, d, true},
			shape{"decode " + tag, "attn proj 1×d·(d×d)ᵀ", "MatMulBT", 1, d, d, true},
			shape{"decode " + tag, "FFN up 1×d·(f×d)ᵀ", "MatMulBT", 1, d, f, true},
			shape{"decode " + tag, "FFN down 1×f·(d×f)ᵀ", "MatMulBT", 1, f, d, true},
			shape{"decode " + tag, "lm head 1×d·(V×d)ᵀ", "MatMulBT", 1, d, V, true},
		)
	}
	for _, s := range []int{256, 512} {
		for _, kind := range []string{"MatMul", "MatMulBT", "MatMulAT"} {
			out = append(out, shape{"square", fmt.Sprintf("%d³", s), kind, s, s, s, false})
		}
	}
	return out, nil
}

func ours(kind string) func(c, a, b []float32, m, k, n int, acc bool) {
	switch kind {
	case "MatMulBT":
		return linalg.MatMulBT
	case "MatMulAT":
		return linalg.MatMulAT
	}
	return linalg.MatMul
}

func oursPar(kind string) func(c, a, b []float32, m, k, n int, acc bool, workers int) {
	switch kind {
	case "MatMulBT":
		return linalg.ParMatMulBT
	case "MatMulAT":
		return linalg.ParMatMulAT
	}
	return linalg.ParMatMul
}

// measureShape times every contender on one shape. The contenders take
// turns within each repetition, so a neighbour's load on the machine
// falls on all of them alike; each reports its median over the reps.
func measureShape(s shape, par []int, reps int, minRep, cooldown time.Duration) result {
	rng := rand.New(rand.NewPCG(uint64(s.M), uint64(s.K*1000+s.N)))
	a, b := make([]float32, s.M*s.K), make([]float32, s.K*s.N)
	for i := range a {
		a[i] = rng.Float32()*2 - 1
	}
	for i := range b {
		b[i] = rng.Float32()*2 - 1
	}
	c1, c2 := make([]float32, s.M*s.N), make([]float32, s.M*s.N)
	fn, pfn := ours(s.Kind), oursPar(s.Kind)
	type contender struct {
		run   func()
		iters int
		gf    []float64
		cpu   []float64 // GFLOP/s by process CPU time (1T contenders)
		// spins: OpenBLAS with several threads, whose idle workers
		// spin (yielding) for a while after a call and would slow
		// whatever runs next on the other core.
		spins bool
	}
	cs := []*contender{
		{run: func() { fn(c1, a, b, s.M, s.K, s.N, false) }},
		{run: func() { blas.Sgemm(s.Kind, c2, a, b, s.M, s.K, s.N, 1) }},
	}
	for _, t := range par {
		cs = append(cs,
			&contender{run: func() { pfn(c1, a, b, s.M, s.K, s.N, false, t) }},
			&contender{run: func() { blas.Sgemm(s.Kind, c2, a, b, s.M, s.K, s.N, t) }, spins: t > 1},
		)
	}
	flops := 2 * float64(s.M) * float64(s.K) * float64(s.N)
	idle0, total0, statOK := cpuTimes()
	self0, selfOK := processCPU()
	for _, c := range cs {
		c.iters = calibrate(c.run, minRep)
		if c.spins {
			time.Sleep(cooldown)
		}
	}
	for r := 0; r < reps; r++ {
		for ci, c := range cs {
			u0, cpuOK := processCPU()
			t0 := time.Now()
			for i := 0; i < c.iters; i++ {
				c.run()
			}
			c.gf = append(c.gf, flops*float64(c.iters)/time.Since(t0).Seconds()/1e9)
			if u1, _ := processCPU(); cpuOK && ci < 2 && u1 > u0 {
				c.cpu = append(c.cpu, flops*float64(c.iters)/(u1-u0).Seconds()/1e9)
			}
			if c.spins {
				time.Sleep(cooldown)
			}
		}
	}
	res := result{shape: s, Ours1: median(cs[0].gf), BLAS1: median(cs[1].gf), OthersLoad: -1}
	idle1, total1, _ := cpuTimes()
	self1, _ := processCPU()
	if statOK && selfOK && total1 > total0 {
		// /proc/stat counts in USER_HZ (100 per second on Linux).
		busy := float64((total1-total0)-(idle1-idle0)) / 100
		res.OthersLoad = max(0, busy-(self1-self0).Seconds()) / (float64(total1-total0) / 100)
	}
	res.Ratio1 = 100 * res.Ours1 / res.BLAS1
	if len(cs[0].cpu) == reps && len(cs[1].cpu) == reps {
		res.Ours1CPU, res.BLAS1CPU = median(cs[0].cpu), median(cs[1].cpu)
		res.Ratio1CPU = 100 * res.Ours1CPU / res.BLAS1CPU
	}
	res.OursNs = flops / res.Ours1
	for i, t := range par {
		o, bl := median(cs[2+2*i].gf), median(cs[3+2*i].gf)
		res.Par = append(res.Par, parResult{Threads: t, Ours: o, BLAS: bl, Ratio: 100 * o / bl})
	}
	// Both computed the same product: check it, so a fast wrong kernel
	// cannot pass unnoticed.
	fn(c1, a, b, s.M, s.K, s.N, false)
	blas.Sgemm(s.Kind, c2, a, b, s.M, s.K, s.N, 1)
	for i := range c1 {
		d := math.Abs(float64(c1[i]-c2[i])) / (1 + math.Abs(float64(c2[i])))
		res.MaxDiff = max(res.MaxDiff, d)
	}
	if res.MaxDiff > 1e-3 {
		fatalf("%s %d×%d×%d: ours and OpenBLAS differ by %g", s.Kind, s.M, s.K, s.N, res.MaxDiff)
	}
	return res
}

// calibrate returns how many calls of f take at least minRep.
func calibrate(f func(), minRep time.Duration) int {
	f() // warm caches and buffer pools
	n := 1
	for {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			f()
		}
		el := time.Since(t0)
		if el >= minRep {
			return n
		}
		if el <= 0 {
			n *= 100
			continue
		}
		n = max(n+1, int(float64(n)*1.2*float64(minRep)/float64(el)))
	}
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(rs []result) summary {
	var s summary
	var logSum, logPar, logCPU float64
	nPar, nCPU := 0, 0
	s.Min1, s.Min1CPU = math.Inf(1), math.Inf(1)
	for _, r := range rs {
		if !r.Model {
			continue
		}
		s.ModelShapes++
		logSum += math.Log(r.Ratio1)
		if r.Ratio1 < s.Min1 {
			s.Min1, s.MinShape1 = r.Ratio1, fmt.Sprintf("%s %s %d×%d×%d", r.Group, r.Kind, r.M, r.K, r.N)
		}
		if r.Ratio1 >= 30 {
			s.AtLeast30Pct++
		}
		if r.Ratio1CPU > 0 {
			logCPU += math.Log(r.Ratio1CPU)
			nCPU++
			s.Min1CPU = min(s.Min1CPU, r.Ratio1CPU)
		}
		for _, p := range r.Par {
			logPar += math.Log(p.Ratio)
			nPar++
		}
	}
	if s.ModelShapes > 0 {
		s.GeoMean1 = math.Exp(logSum / float64(s.ModelShapes))
	}
	if nPar > 0 {
		s.GeoMeanPar = math.Exp(logPar / float64(nPar))
	}
	if nCPU > 0 {
		s.GeoMean1CPU = math.Exp(logCPU / float64(nCPU))
	} else {
		s.Min1CPU = 0
	}
	return s
}

func markdown(rep report, par []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# trainer/linalg vs OpenBLAS: float32 matrix products\n\n")
	fmt.Fprintf(&b, "- Date: %s; CPU: %s (%d CPUs as seen by Go); %s %s; linalg kernels: %s.\n", rep.Date, rep.CPU, rep.NumCPU, rep.Go, rep.GOARCH, rep.ISA)
	fmt.Fprintf(&b, "- OpenBLAS: %s, via cgo `cblas_sgemm` (row-major, beta = 0), thread count set with `openblas_set_num_threads` before each call.\n", rep.OpenBLAS)
	fmt.Fprintf(&b, "- Command: `%s`.\n", rep.Command)
	fmt.Fprintf(&b, "- Each number is the median GFLOP/s (2·m·k·n per call) over %d repetitions of at least %s; the contenders take turns within each repetition (after each multi-threaded OpenBLAS run the harness pauses until its spinning workers sleep). Before each shape it waits (up to a limit) for the CPUs to be ≥ 90%% idle; shapes that started on a busier machine, or during which other processes used more than 10%% of the CPUs, are marked (the 2-thread columns suffer most). Load average at start: %s; at end: %s. The machine may be shared: absolute numbers move with its load, ratios less so.\n", rep.Reps, rep.MinRep, rep.LoadStart, rep.LoadEnd)
	fmt.Fprintf(&b, "- \"1T\": our single-threaded function vs OpenBLAS with 1 thread. \"%sT\": our Par* function with that many workers vs OpenBLAS with that many threads. ours/OB is ours as a percentage of OpenBLAS. Shapes are m×k×n of C(m×n) = op(A)(m×k)·op(B)(k×n); T = tokens, d = width, f = FFN width, V = vocabulary.\n\n", joinInts(par, "/"))
	s := rep.Summary
	fmt.Fprintf(&b, "**Model shapes (%d): single-threaded ours/OpenBLAS geometric mean %.0f%%, lowest %.0f%% (%s); %d of %d at ≥ 30%%. By CPU time: geometric mean %.0f%%, lowest %.0f%%. Parallel geometric mean %.0f%%.**\n\n",
		s.ModelShapes, s.GeoMean1, s.Min1, s.MinShape1, s.AtLeast30Pct, s.ModelShapes, s.GeoMean1CPU, s.Min1CPU, s.GeoMeanPar)
	fmt.Fprintf(&b, "\"CPU time\" columns: the same single-threaded runs timed by the process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`; the process's other threads are idle then) instead of the wall clock, which leaves out time spent waiting for a core when the machine is shared.\n\n")
	fmt.Fprintf(&b, "| group | product | function | m×k×n | ours 1T | OpenBLAS 1T | ours/OB | ours 1T CPU time | OpenBLAS 1T CPU time | ours/OB |")
	for _, t := range par {
		fmt.Fprintf(&b, " ours %dW | OpenBLAS %dT | ours/OB |", t, t)
	}
	fmt.Fprintf(&b, "\n|---|---|---|---|---:|---:|---:|---:|---:|---:|")
	for range par {
		fmt.Fprintf(&b, "---:|---:|---:|")
	}
	b.WriteString("\n")
	for _, r := range rep.Results {
		busy := ""
		if r.IdleBefore < 0.9 {
			busy = fmt.Sprintf(" (busy before: %.0f%% idle)", 100*r.IdleBefore)
		}
		if r.OthersLoad > 0.1 {
			busy += fmt.Sprintf(" (others used %.0f%% of the CPUs)", 100*r.OthersLoad)
		}
		fmt.Fprintf(&b, "| %s | %s%s | %s | %d×%d×%d | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.0f%% |", r.Group, r.What, busy, r.Kind, r.M, r.K, r.N, r.Ours1, r.BLAS1, r.Ratio1, r.Ours1CPU, r.BLAS1CPU, r.Ratio1CPU)
		for _, p := range r.Par {
			fmt.Fprintf(&b, " %.1f | %.1f | %.0f%% |", p.Ours, p.BLAS, p.Ratio)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func joinInts(x []int, sep string) string {
	s := make([]string, len(x))
	for i, v := range x {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, sep)
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// waitIdle samples /proc/stat every 200ms until the CPUs were at least
// 90% idle over a sample, or max has passed, and returns the last idle
// fraction (1 when /proc/stat is unreadable).
func waitIdle(max time.Duration) float64 {
	deadline := time.Now().Add(max)
	for {
		i0, t0, ok := cpuTimes()
		if !ok {
			return 1
		}
		time.Sleep(200 * time.Millisecond)
		i1, t1, _ := cpuTimes()
		idle := 1.0
		if t1 > t0 {
			idle = float64(i1-i0) / float64(t1-t0)
		}
		if idle >= 0.9 || time.Now().After(deadline) {
			return idle
		}
	}
}

// cpuTimes returns the idle (idle + iowait) and total jiffies of all CPUs.
func cpuTimes() (idle, total uint64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total, true
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
