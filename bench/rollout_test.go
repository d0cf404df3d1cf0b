package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
	"github.com/retool-rl/retool/runtimes/python/driver"
	"github.com/retool-rl/retool/trainer/policy"
	"github.com/retool-rl/retool/trainer/rollout"
)

// instant answers at once: one tool call, then the answer.
type instant struct{}

func (instant) Generate(_ context.Context, req policy.Request) ([]policy.Completion, error) {
	if strings.Contains(req.Prompt, "</interpreter>") {
		return []policy.Completion{{Text: "<answer>\n\\boxed{42}\n</answer>", FinishReason: "stop"}}, nil
	}
	return []policy.Completion{{Text: "<code>\n```python\nprint(6*7)\n```\n", FinishReason: "stop", StopSequence: "</code>"}}, nil
}

// sandboxed runs executions on an in-process warm pool (the whole native
// sandbox, no plugin hop).
type sandboxed struct{ rt sdk.Runtime }

func (s sandboxed) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	return s.rt.Execute(ctx, req)
}

func (sandboxed) Languages() (map[string]string, error) {
	return map[string]string{"python": "python"}, nil
}

// BenchmarkRolloutSandbox: tool-calling trajectories per second through
// the rollout engine with a policy that answers instantly and real
// sandboxed executions (8 warm python workers): the engine's throughput
// when the sandbox is the limit. Issue 4 asks for at least 300/s.
func BenchmarkRolloutSandbox(b *testing.B) {
	rt := driver.Runtime(driver.Python)
	if err := rt.Configure(context.Background(), sdk.Settings{PoolSize: 8}); err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	e := &rollout.Engine{Policy: instant{}, Exec: sandboxed{rt}, Template: rollout.ReTool{Mini: true},
		Options: rollout.Options{Concurrency: 64, ToolConcurrency: 8}}
	prompts := make([]rollout.Prompt, 64)
	for i := range prompts {
		prompts[i] = rollout.Prompt{ID: "p", Text: "What is 6 times 7?"}
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		trs, err := e.Run(context.Background(), prompts, 4)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range trs {
			if t.StopReason != rollout.StopAnswer || len(t.ToolCalls) != 1 || t.ToolCalls[0].Output != "42\n" {
				b.Fatalf("trajectory %+v", t)
			}
		}
		n += len(trs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "trajectories/s")
}
