package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/retool-rl/retool/core/sysmon"
	"github.com/retool-rl/retool/trainer/eval"
)

// The binaries under test, built once: the CLI and the built-in runtimes.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "retool-cli-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for name, pkg := range map[string]string{"retool": ".", "retool-runtime-python": "../../runtimes/python",
		"retool-runtime-sympy": "../../runtimes/sympy"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			os.Stderr.Write(out)
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cli struct {
	t         *testing.T
	pluginDir string
	workDir   string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{t: t, pluginDir: t.TempDir(), workDir: t.TempDir()}
}

// run executes retool with args and stdin; it returns stdout, stderr and
// the exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	return c.runIn(nil, stdin, args...)
}

// runEnv is run with extra environment variables and no stdin.
func (c *cli) runEnv(env []string, args ...string) (string, string, int) {
	c.t.Helper()
	return c.runIn(env, "", args...)
}

func (c *cli) runIn(env []string, stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "retool"), args...)
	cmd.Dir = c.workDir
	cmd.Env = append(append(os.Environ(), "RETOOL_PLUGIN_DIR="+c.pluginDir), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("retool %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func TestIssueWalkthrough(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-sympy"))
	list := c.must("plugin", "list")
	for _, want := range []string{"python", "sympy", "python,python3"} {
		if !strings.Contains(list, want) {
			t.Errorf("plugin list lacks %q:\n%s", want, list)
		}
	}
	if out := c.must("exec", "--lang", "python", "-c", "print(6*7)"); out != "42\n" {
		t.Errorf("python: %q", out)
	}
	if out := c.must("exec", "--lang", "sympy", "-c", "factorint(2**64-1)"); out != "{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}\n" {
		t.Errorf("sympy: %q", out)
	}
	prog := filepath.Join(c.workDir, "prog.py")
	os.WriteFile(prog, []byte("print(input())"), 0o644)
	if out, _, _ := c.run("hello\n", "exec", "--lang", "python", "--stdin", "-", "-f", prog); out != "hello\n" {
		t.Errorf("stdin: %q", out)
	}
	if _, errOut, code := c.run("", "exec", "--lang", "python", "-c", "raise SystemExit(7)"); code != 7 || errOut != "" {
		t.Errorf("exit code passthrough: %d %q", code, errOut)
	}
	if _, errOut, code := c.run("", "exec", "--lang", "python", "--timeout", "1s", "-c", "while True: pass"); code == 0 || !strings.Contains(errOut, "timeout") {
		t.Errorf("timeout: %d %q", code, errOut)
	}
	if _, errOut, code := c.run("", "exec", "--lang", "fortran", "-c", "x"); code != 1 || !strings.Contains(errOut, "no installed runtime runs this language") {
		t.Errorf("unknown language: %d %q", code, errOut)
	}
	c.must("plugin", "remove", "python")
	if _, errOut, code := c.run("", "exec", "--lang", "python", "-c", "1"); code == 0 || !strings.Contains(errOut, "installed: sympy") {
		t.Errorf("after remove: %d %q", code, errOut)
	}
}

// release writes a .tar.gz with the binary and its SHA256SUMS.
func release(t *testing.T, binary string, corrupt bool) []byte {
	t.Helper()
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if corrupt {
		sum[0] ^= 0xff
	}
	name := filepath.Base(binary)
	var buf strings.Builder
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{name, 0o755, data}, {"SHA256SUMS", 0o644, []byte(fmt.Sprintf("%s  %s\n", hex.EncodeToString(sum[:]), name))}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		tw.Write(f.data)
	}
	tw.Close()
	gz.Close()
	return []byte(buf.String())
}

func TestInstallReleaseOverHTTP(t *testing.T) {
	good := release(t, filepath.Join(binDir, "retool-runtime-python"), false)
	bad := release(t, filepath.Join(binDir, "retool-runtime-python"), true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good.tar.gz":
			w.Write(good)
		case "/bad.tar.gz":
			w.Write(bad)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newCLI(t)
	if _, errOut, code := c.run("", "plugin", "install", srv.URL+"/bad.tar.gz"); code == 0 || !strings.Contains(errOut, "checksum mismatch") {
		t.Fatalf("bad release: %d %q", code, errOut)
	}
	if entries, _ := os.ReadDir(c.pluginDir); len(entries) > 1 { // .lock only
		t.Fatalf("refused install left files: %v", entries)
	}
	if _, errOut, code := c.run("", "plugin", "install", srv.URL+"/missing.tar.gz"); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("missing release: %d %q", code, errOut)
	}
	c.must("plugin", "install", srv.URL+"/good.tar.gz")
	if out := c.must("exec", "--lang", "python", "-c", "1+1"); out != "2\n" {
		t.Fatalf("installed from URL: %q", out)
	}
}

func TestConfigErrorsPointAtPosition(t *testing.T) {
	c := newCLI(t)
	cfg := filepath.Join(c.workDir, "bad.hcl")
	os.WriteFile(cfg, []byte("runtime \"python\" {\n  pool_szie = 2\n}\n"), 0o644)
	_, errOut, code := c.run("", "run", cfg)
	if code != 1 || !strings.Contains(errOut, "bad.hcl:2:3") || !strings.Contains(errOut, "pool_size") {
		t.Fatalf("typo: %d %q", code, errOut)
	}
	_, errOut, code = c.run("", "--config", cfg, "exec", "--lang", "python", "-c", "1")
	if code != 1 || !strings.Contains(errOut, "bad.hcl:2:3") {
		t.Fatalf("exec with a bad config: %d %q", code, errOut)
	}
}

// A CLI killed with SIGKILL mid-execution must not leave its plugin, the
// plugin's sandboxes, cgroups or temp dirs behind.
func TestKilledCLILeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("checks cgroups, which need root")
	}
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	cmd := exec.Command(filepath.Join(binDir, "retool"), "exec", "--lang", "python", "-c", "import time; time.sleep(30)")
	cmd.Env = append(os.Environ(), "RETOOL_PLUGIN_DIR="+c.pluginDir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(c.pluginDir, "python")
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		pid = findProcess(plugin)
		time.Sleep(50 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("plugin never started")
	}
	time.Sleep(500 * time.Millisecond) // the execution is under way
	cmd.Process.Kill()
	cmd.Wait()
	for time.Now().Before(deadline) {
		if findProcess(plugin) == 0 && len(leftovers(pid)) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after the CLI was killed: plugin pid %d running=%v, left: %v", pid, findProcess(plugin) != 0, leftovers(pid))
}

// findProcess returns the pid of a process whose executable lies under dir.
func findProcess(dir string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && strings.HasPrefix(exe, dir) {
			return pid
		}
	}
	return 0
}

// leftovers lists the cgroups and temp dirs a plugin's workers created.
func leftovers(pid int) []string {
	pattern := fmt.Sprintf("*-%d-*", pid)
	var out []string
	for _, glob := range []string{"/sys/fs/cgroup/*/retool/" + pattern, filepath.Join(os.TempDir(), "retool-sandbox-"+strconv.Itoa(pid)+"-*")} {
		m, _ := filepath.Glob(glob)
		out = append(out, m...)
	}
	return out
}

// As an ordinary user retool runs in a one-id user namespace without
// cgroups, and every result names the mechanisms that replace them.
func TestOrdinaryUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an ordinary user")
	}
	const uid = 65534 // nobody
	dir, err := os.MkdirTemp("", "retool-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	for _, name := range []string{"retool", "retool-runtime-python"} {
		data, err := os.ReadFile(filepath.Join(binDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(dir, uid, uid)
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(filepath.Join(dir, "retool"), args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "RETOOL_PLUGIN_DIR=" + filepath.Join(dir, "plugins")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	if _, errOut, err := run("plugin", "install", filepath.Join(dir, "retool-runtime-python")); err != nil {
		t.Fatalf("install as nobody: %v %s", err, errOut)
	}
	out, errOut, err := run("exec", "-v", "--lang", "python", "-c",
		"import os\nprint(os.getuid(), [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])")
	if err != nil {
		t.Fatalf("exec as nobody: %v %s", err, errOut)
	}
	if out != "0 0000000000000000\n" {
		t.Errorf("inside the sandbox: %q, want root of a one-id namespace with no capabilities", out)
	}
	for _, want := range []string{"finished", "RLIMIT_AS", "RLIMIT_NPROC", "exec user: same id as the worker"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("status line lacks %q: %s", want, errOut)
		}
	}
}

// serve starts `retool serve` on a free loopback port and returns its URL.
func (c *cli) serve(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(filepath.Join(binDir, "retool"), append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Dir = c.workDir
	cmd.Env = append(os.Environ(), "RETOOL_PLUGIN_DIR="+c.pluginDir)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/v1/ping")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return url, cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("retool serve did not answer: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A SandboxFusion client written as verl's works unchanged against retool serve.
func TestSandboxFusionClient(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-sympy"))
	url, _ := c.serve(t)
	out, err := exec.Command("/usr/bin/python3", "testdata/sandboxfusion_client.py", url).CombinedOutput()
	if err != nil {
		t.Fatalf("client failed: %v\n%s", err, out)
	}
	var seen map[string]any
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	want := `{"error":{"return_code":1,"status":"Failed","tool_has_traceback":true},"ping":"pong",` +
		`"print":{"compile_result":null,"execution_time_is_float":true,"return_code":0,"run_status":"Finished","status":"Success","tool":"42\n"},` +
		`"stdin":"hello\n","sympy":"{3: 1, 5: 1, 17: 1, 257: 1, 641: 1, 65537: 1, 6700417: 1}\n",` +
		`"timeout":{"run_status":"TimeLimitExceeded","status":"Failed","stdout":"partial\n","tool":"no stdout here"},` +
		`"unknown_language":"HTTP 400"}`
	got, _ := json.Marshal(seen)
	if string(got) != want {
		t.Fatalf("the client saw\n%s\nwant\n%s", got, want)
	}
}

// SIGTERM drains: an execution in flight finishes and is answered.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	url, cmd := c.serve(t)
	// The server re-executed itself with the scheduler setting (package
	// sysmon) and is still the process started, which SIGTERM reaches.
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid))
	want := sysmon.Env(os.Environ())
	if err != nil || !strings.Contains("\x00"+string(env), "\x00"+want[len(want)-1]+"\x00") {
		t.Errorf("retool serve's environment lacks %s (%v)", want[len(want)-1], err)
	}
	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Post(url+"/run_code", "application/json",
			strings.NewReader(`{"code":"import time\ntime.sleep(1)\nprint('drained')","language":"python"}`))
		if err != nil {
			done <- answer{-1, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{resp.StatusCode, string(b)}
	}()
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	a := <-done
	if a.code != 200 || !strings.Contains(a.body, `drained\n`) {
		t.Fatalf("in-flight execution during shutdown: %d %s", a.code, a.body)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
}

func TestGrade(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-sympy"))
	in, _ := filepath.Abs("testdata/grade.jsonl")
	out := c.must("grade", in)
	var got []gradeResult
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r gradeResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		got = append(got, r)
	}
	want := []struct {
		correct bool
		method  string // verdict method, or the error's start
	}{
		{true, "numeric"}, {true, "normalized"}, {false, "none"}, {false, "error: not a JSON object"},
		{true, "symbolic"}, {false, `error: field "response" is missing`}, {false, "numeric"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results for %d lines:\n%s", len(got), len(want), out)
	}
	for i, w := range want {
		m := got[i].Verdict.Method
		if got[i].Error != "" {
			m = "error: " + got[i].Error
		}
		if got[i].Correct != w.correct || !strings.HasPrefix(m, w.method) || got[i].Line != i+1 {
			t.Errorf("line %d: correct=%v method=%q, want %v %q (%+v)", i+1, got[i].Correct, m, w.correct, w.method, got[i])
		}
	}
	// The sandboxed sympy runtime decided line 5, not a float comparison.
	if !strings.Contains(got[4].Verdict.Detail, "symbolic checker") {
		t.Errorf("line 5 was not decided by the sandboxed sympy runtime: %+v", got[4].Verdict)
	}
}

// A client that hangs up cancels its execution: with one worker, the next
// request runs at once instead of waiting out the abandoned one.
func TestHangUpCancelsExecution(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	url, _ := c.serve(t, "--pool-size", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/run_code",
		strings.NewReader(`{"code":"import time\ntime.sleep(30)","language":"python","run_timeout":60}`))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the abandoned request should have timed out on the client side")
	}
	start := time.Now()
	resp, err := http.Post(url+"/run_code", "application/json", strings.NewReader(`{"code":"print(1)","language":"python"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"stdout":"1\n"`) || time.Since(start) > 5*time.Second {
		t.Fatalf("next request after a hang-up: %s after %s", b, time.Since(start))
	}
}

// fakeCompletions is an OpenAI-compatible server whose "model" writes a
// python call, then answers with whatever the interpreter printed.
func fakeCompletions(t *testing.T, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Prompt string `json:"prompt"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		text, stop := "Let me compute it.\n<code>\n```python\nprint(6*7)\n```\n", "</code>"
		if i := strings.LastIndex(req.Prompt, "<interpreter>\n"); i >= 0 {
			out := strings.TrimSpace(strings.SplitN(req.Prompt[i+len("<interpreter>\n"):], "</interpreter>", 2)[0])
			text, stop = "The interpreter says "+out+".\n<answer>\n\\boxed{"+out+"}\n</answer>", ""
		}
		choice := map[string]any{"index": 0, "text": text, "finish_reason": "stop"}
		if stop != "" {
			choice["stop_reason"] = stop
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{choice}})
	}))
}

func TestEvalRunsGradesReportsAndResumes(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-sympy"))
	var calls atomic.Int64
	srv := fakeCompletions(t, &calls)
	defer srv.Close()
	data, _ := filepath.Abs("testdata/eval_problems.jsonl")
	out := filepath.Join(c.workDir, "run")
	args := []string{"eval", "--data", data, "--base-url", srv.URL + "/v1", "--model", "fake", "--n", "2", "--k", "1,2", "--out", out}
	report := c.must(args...)
	if !strings.Contains(report, "pass@1") {
		t.Fatalf("report:\n%s", report)
	}
	records, dropped, err := eval.ReadRecords(filepath.Join(out, "trajectories.jsonl"))
	if err != nil || dropped != 0 || len(records) != 8 {
		t.Fatalf("%d records (%d dropped): %v", len(records), dropped, err)
	}
	correct := 0
	for _, r := range records {
		if r.Correct() {
			correct++
		}
		tc := r.Trajectory.ToolCalls
		if len(tc) != 1 {
			b, _ := json.Marshal(r.Trajectory)
			t.Logf("trajectory: %s", b)
		}
		if len(tc) != 1 || tc[0].Status != "finished" || strings.TrimSpace(tc[0].Output) != "42" {
			t.Fatalf("tool call of %s/%d: %+v", r.Problem, r.Trajectory.Sample, tc)
		}
	}
	if correct != 6 {
		t.Fatalf("%d correct, want 6 (p4's answer is 41)", correct)
	}
	for _, f := range []string{"summary.json", "report.md"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if pngs, _ := filepath.Glob(filepath.Join(out, "plots", "*.png")); len(pngs) == 0 {
		t.Fatal("no plots")
	}
	// A rerun resumes: every trajectory is there, so the model is not asked again.
	before := calls.Load()
	c.must(args...)
	if calls.Load() != before {
		t.Fatalf("resume asked the model %d more times", calls.Load()-before)
	}
	if records, _, _ := eval.ReadRecords(filepath.Join(out, "trajectories.jsonl")); len(records) != 8 {
		t.Fatalf("rerun duplicated records: %d", len(records))
	}
}

// retool eval reads its settings from the config's eval block.
func TestEvalFromConfig(t *testing.T) {
	c := newCLI(t)
	c.must("plugin", "install", filepath.Join(binDir, "retool-runtime-python"))
	var calls atomic.Int64
	srv := fakeCompletions(t, &calls)
	defer srv.Close()
	data, _ := filepath.Abs("testdata/eval_problems.jsonl")
	cfg := filepath.Join(c.workDir, "eval.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf("eval {\n  data = %q\n  base_url = %q\n  model = \"fake\"\n  n = 3\n  k = [1, 3]\n}\n",
		data, srv.URL+"/v1")), 0o644)
	out := filepath.Join(c.workDir, "run")
	c.must("--config", cfg, "eval", "--no-symbolic", "--out", out)
	records, _, err := eval.ReadRecords(filepath.Join(out, "trajectories.jsonl"))
	if err != nil || len(records) != 12 {
		t.Fatalf("%d records (want 4 problems × n=3 from the config): %v", len(records), err)
	}
}
