package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/plugins/sdk"
)

func TestDriverNeedsJulia(t *testing.T) {
	_, err := juliaDriver(map[string]string{"interpreter": "/nonexistent/julia"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/julia not found") {
		t.Fatalf("missing interpreter: %v", err)
	}
}

func TestJuliaExecutes(t *testing.T) {
	if _, err := exec.LookPath("julia"); err != nil {
		t.Skip("julia not found on PATH: the julia runtime runs only where a julia binary is installed (set settings.interpreter); skipping its execution tests")
	}
	rt := &sdk.WarmRuntime{Meta: sdk.Info{Name: "julia", Languages: []string{"julia"}}, Driver: juliaDriver}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rt.Configure(ctx, sdk.Settings{PoolSize: 1}); err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	cases := []struct {
		code, stdout string
		status       execution.Status
	}{
		{"1 + 1", "2\n", execution.Finished},
		{`println("hi")`, "hi\n", execution.Finished},
		{`error("boom")`, "", execution.Failed},
	}
	for _, c := range cases {
		res, err := rt.Execute(ctx, &execution.Request{Code: c.code, Limits: execution.Limits{WallTime: time.Minute}})
		if err != nil || res.Status != c.status || string(res.Stdout) != c.stdout {
			t.Errorf("%q: %+v %v", c.code, res, err)
		}
	}
}
