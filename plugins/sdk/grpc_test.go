package sdk

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/retool-rl/retool/core/execution"
)

// fakeRuntime records what crossed the wire and answers with what the
// test gives it.
type fakeRuntime struct {
	gotReq  *execution.Request
	gotSet  Settings
	result  execution.Result
	execErr error
}

func (f *fakeRuntime) Info(context.Context) (Info, error) {
	return Info{Name: "fake", Version: "1.2.3", Languages: []string{"fake", "fk"}, Capabilities: []string{"files"}}, nil
}
func (f *fakeRuntime) Configure(_ context.Context, s Settings) error { f.gotSet = s; return nil }
func (f *fakeRuntime) Health(context.Context) (Health, error) {
	return Health{Ready: true, WorkersReady: 1, WorkersTotal: 2, Restarts: 3, Degraded: []string{"memory: rlimit"}}, nil
}
func (f *fakeRuntime) Execute(_ context.Context, r *execution.Request) (execution.Result, error) {
	f.gotReq = r
	return f.result, f.execErr
}
func (f *fakeRuntime) OpenSession(context.Context, string, execution.Limits) (string, error) {
	return "", ErrSessionsNotSupported
}
func (f *fakeRuntime) ExecuteInSession(context.Context, string, *execution.Request) (execution.Result, error) {
	return execution.Result{}, ErrUnknownSession
}
func (f *fakeRuntime) CloseSession(context.Context, string) error { return nil }

func connect(t *testing.T, impl Runtime) Runtime {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{PluginName: &RuntimePlugin{Impl: impl}})
	// Closing the client shuts the server down through go-plugin's controller;
	// stopping it here as well races inside go-plugin.
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(Runtime)
}

func TestRoundTrip(t *testing.T) {
	want := execution.Result{
		Status: execution.Timeout, ExitCode: 0, Signal: 9, Stdout: []byte{0xff, 0, 'x'}, Stderr: []byte("err"),
		WallTime: 1500 * time.Millisecond, CPUTime: 1200 * time.Millisecond, PeakMemory: 1 << 20,
		StdoutTruncated: true, Files: []execution.File{{Path: "out.txt", Content: []byte("data")}},
		Message: "wall time limit 1.5s exceeded", Degraded: []string{"pids: RLIMIT_NPROC"},
	}
	f := &fakeRuntime{result: want}
	rt := connect(t, f)
	ctx := context.Background()
	info, err := rt.Info(ctx)
	if err != nil || info.Name != "fake" || len(info.Languages) != 2 || info.ProtocolVersion != ProtocolVersion {
		t.Fatalf("info %+v %v", info, err)
	}
	req := &execution.Request{Language: "fake", Code: "x", Stdin: []byte("in"), FetchFiles: []string{"out.txt"},
		Files: []execution.File{{Path: "a", Content: []byte{1, 2}}}, Limits: execution.Limits{WallTime: 1500 * time.Millisecond, Pids: 7}}
	got, err := rt.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if f.gotReq.Code != "x" || !bytes.Equal(f.gotReq.Stdin, []byte("in")) || f.gotReq.Limits != req.Limits ||
		len(f.gotReq.Files) != 1 || f.gotReq.FetchFiles[0] != "out.txt" {
		t.Fatalf("request crossed as %+v", f.gotReq)
	}
	if got.Status != want.Status || !bytes.Equal(got.Stdout, want.Stdout) || got.WallTime != want.WallTime ||
		got.CPUTime != want.CPUTime || got.Signal != 9 || !got.StdoutTruncated || got.Message != want.Message ||
		len(got.Files) != 1 || string(got.Files[0].Content) != "data" || got.Degraded[0] != want.Degraded[0] {
		t.Fatalf("result crossed as %+v", got)
	}
	set := Settings{PoolSize: 3, DefaultLimits: execution.Limits{MemoryBytes: 1 << 30},
		Sandbox: SandboxSettings{Backend: "none", WorkDirBytes: 5, ReadOnlyPaths: []string{"/opt"}}, Values: map[string]string{"k": "v"}}
	if err := rt.Configure(ctx, set); err != nil {
		t.Fatal(err)
	}
	if f.gotSet.PoolSize != 3 || f.gotSet.Sandbox.Backend != "none" || f.gotSet.Values["k"] != "v" || f.gotSet.DefaultLimits.MemoryBytes != 1<<30 {
		t.Fatalf("settings crossed as %+v", f.gotSet)
	}
	h, err := rt.Health(ctx)
	if err != nil || h.WorkersTotal != 2 || h.Restarts != 3 || h.Degraded[0] != "memory: rlimit" {
		t.Fatalf("health %+v %v", h, err)
	}
}

func TestErrorClassesCrossTheWire(t *testing.T) {
	cases := map[string]struct {
		err  error
		want error
	}{
		"invalid":  {execution.ErrInvalid, execution.ErrInvalid},
		"deadline": {context.DeadlineExceeded, context.DeadlineExceeded},
		"sessions": {ErrSessionsNotSupported, ErrSessionsNotSupported},
		"unknown":  {ErrUnknownSession, ErrUnknownSession},
		"wrapped":  {errors.Join(errors.New("ctx"), execution.ErrInvalid), execution.ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rt := connect(t, &fakeRuntime{execErr: c.err})
			_, err := rt.Execute(context.Background(), &execution.Request{Code: "x"})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want errors.Is %v", err, c.want)
			}
		})
	}
	rt := connect(t, &fakeRuntime{})
	if _, err := rt.OpenSession(context.Background(), "fake", execution.Limits{}); !errors.Is(err, ErrSessionsNotSupported) {
		t.Fatalf("open session: %v", err)
	}
}
