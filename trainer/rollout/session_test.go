package rollout

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/retool-rl/retool/core/execution"
)

// sessionExec keeps "globals" per session: "x = v" stores, "x" reads.
type sessionExec struct {
	*fakeExec
	mu     sync.Mutex
	state  map[string]map[string]string
	opened []string
	closed []string
}

func (s *sessionExec) OpenSession(_ context.Context, lang string, _ execution.Limits) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := lang + ":" + string(rune('a'+len(s.opened)))
	if s.state == nil {
		s.state = map[string]map[string]string{}
	}
	s.state[id] = map[string]string{}
	s.opened = append(s.opened, id)
	return id, nil
}

func (s *sessionExec) ExecuteInSession(_ context.Context, id string, req *execution.Request) (execution.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.state[id]
	if k, v, ok := strings.Cut(req.Code, " = "); ok {
		g[k] = v
		return execution.Result{Status: execution.Finished}, nil
	}
	return execution.Result{Status: execution.Finished, Stdout: []byte(g[req.Code] + "\n")}, nil
}

func (s *sessionExec) CloseSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, id)
	return nil
}

func TestStatefulTrajectoryKeepsGlobals(t *testing.T) {
	e, _, _ := newEngine(ReTool{}, "</interpreter>", Options{Stateful: true})
	sx := &sessionExec{fakeExec: newFakeExec()}
	e.Exec = sx
	tr := runOne(t, e, []step{
		{text: code("python", "x = 42"), stop: "</code>"},
		{text: code("python", "x"), stop: "</code>"},
		{text: answer},
	})
	if len(tr.ToolCalls) != 2 || strings.TrimSpace(tr.ToolCalls[1].Output) != "42" {
		t.Fatalf("the second call did not see the first one's globals: %+v", tr.ToolCalls)
	}
	if len(sx.opened) != 1 || len(sx.closed) != 1 || sx.closed[0] != sx.opened[0] {
		t.Fatalf("one session per trajectory and language, closed at the end: opened %v closed %v", sx.opened, sx.closed)
	}
}

func TestStatefulNeedsSessions(t *testing.T) {
	e, _, _ := newEngine(ReTool{}, "</interpreter>", Options{Stateful: true})
	if _, err := e.Run(context.Background(), []Prompt{{ID: "p", Text: "q"}}, 1); err == nil || !strings.Contains(err.Error(), "sessions") {
		t.Fatalf("stateful with a plain executor: %v", err)
	}
}
