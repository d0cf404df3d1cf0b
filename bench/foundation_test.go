package bench

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/runtimes/python/driver"
)

const (
	python     = "/usr/bin/python3"
	sympyCode  = "factorint(2**64-1)"
	sympyFresh = "from sympy import *; print(factorint(2**64-1))"
)

// latencies records one duration per iteration and reports the median
// and 99th percentile next to ns/op.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	b.Helper()
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, "p99-ms")
}

func warm(b *testing.B, o driver.Options, code, want string) {
	b.Helper()
	rt := driver.Runtime(o)
	ctx := context.Background()
	if err := rt.Configure(ctx, sdk.Settings{PoolSize: 2}); err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	req := &execution.Request{Code: code}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		res, err := rt.Execute(ctx, req)
		lat = append(lat, time.Since(t0))
		if err != nil || res.Status != execution.Finished || string(res.Stdout) != want {
			b.Fatalf("%s: %+v %v", code, res, err)
		}
	}
	b.StopTimer()
	lat.report(b)
}

func fresh(b *testing.B, code, want string) {
	b.Helper()
	lat := make(latencies, 0, b.N)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		out, err := exec.Command(python, "-c", code).Output()
		lat = append(lat, time.Since(t0))
		if err != nil || string(out) != want {
			b.Fatalf("%s: %q %v", code, out, err)
		}
	}
	b.StopTimer()
	lat.report(b)
}

// The warm pool: a sandboxed fork server per runtime, a fresh child per
// execution (namespaces, cgroup, seccomp included).
func BenchmarkPythonWarmPool(b *testing.B) {
	warm(b, driver.Python, "print(1+1)", "2\n")
}

// The baseline: a fresh, unsandboxed interpreter per execution, the way
// SandboxFusion runs Python (and the cheapest a fresh process can be).
func BenchmarkPythonFreshProcess(b *testing.B) { fresh(b, "print(1+1)", "2\n") }

func BenchmarkSympyWarmPool(b *testing.B) {
	warm(b, driver.Sympy, sympyCode, "{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}\n")
}

func BenchmarkSympyFreshProcess(b *testing.B) {
	fresh(b, sympyFresh, "{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}\n")
}

// Worker start: sandbox + interpreter + imports, until the driver is ready.
func benchmarkStart(b *testing.B, o driver.Options) {
	b.Helper()
	lat := make(latencies, 0, b.N)
	for i := 0; i < b.N; i++ {
		rt := driver.Runtime(o)
		t0 := time.Now()
		if err := rt.Configure(context.Background(), sdk.Settings{PoolSize: 1}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		rt.Close()
	}
	b.StopTimer()
	lat.report(b)
}

func BenchmarkPythonWorkerStart(b *testing.B) {
	benchmarkStart(b, driver.Python)
}

func BenchmarkSympyWorkerStart(b *testing.B) {
	benchmarkStart(b, driver.Sympy)
}
