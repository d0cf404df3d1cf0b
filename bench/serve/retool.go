package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// retoolServer is a `retool serve` the harness started, with its own
// plugin dir under a temp dir that stop removes.
type retoolServer struct {
	bin       string // bin/retool, absolute
	tmp       string
	pluginDir string
	logPath   string
	url       string
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd has been waited for
	waitErr   error
}

// serverOptions are the flags the harness passes to `retool serve`.
type serverOptions struct {
	BinDir   string
	PoolSize int    // 0: the server's default
	Config   string // "": none
	LogLevel string // "": the server's default
	LogPath  string // "": a file in the temp dir, removed at the end
	Ready    time.Duration
}

// checkBinaries fails clearly when `make build` has not left the
// binaries the harness needs in binDir.
func checkBinaries(binDir string) error {
	for _, name := range []string{"retool", "retool-runtime-python", "retool-runtime-sympy"} {
		p := filepath.Join(binDir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is missing or not executable: run `make build` first (or pass -bin)", p)
		}
	}
	return nil
}

// startRetool installs the plugins into a fresh plugin dir, starts
// `retool serve` on a free loopback port and waits for /v1/ping.
func startRetool(ctx context.Context, o serverOptions) (*retoolServer, error) {
	binDir, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, fmt.Errorf("bin dir: %w", err)
	}
	if err := checkBinaries(binDir); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "retool-bench-serve-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &retoolServer{bin: filepath.Join(binDir, "retool"), tmp: tmp,
		pluginDir: filepath.Join(tmp, "plugins"), logPath: o.LogPath}
	if s.logPath == "" {
		s.logPath = filepath.Join(tmp, "serve.log")
	}
	if err := s.installPlugins(ctx, binDir); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.start(o); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.waitReady(ctx, o.Ready); err != nil {
		s.stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

func (s *retoolServer) env() []string {
	return append(os.Environ(), "RETOOL_PLUGIN_DIR="+s.pluginDir)
}

func (s *retoolServer) installPlugins(ctx context.Context, binDir string) error {
	for _, rt := range []string{"python", "sympy"} {
		cmd := exec.CommandContext(ctx, s.bin, "plugin", "install", filepath.Join(binDir, "retool-runtime-"+rt))
		cmd.Env = s.env()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("retool plugin install %s: %w: %s", rt, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *retoolServer) start(o serverOptions) error {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	args := []string{"serve", "--addr", addr}
	if o.PoolSize > 0 {
		args = append(args, "--pool-size", strconv.Itoa(o.PoolSize))
	}
	if o.Config != "" {
		args = append(args, "--config", o.Config)
	}
	if o.LogLevel != "" {
		args = append(args, "--log-level", o.LogLevel)
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Env = s.env()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches the harness only, which then
	// stops the server itself; the group is killed at the end so that no
	// plugin outlives the run. Pdeathsig covers the harness dying.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s %s: %w", s.bin, strings.Join(args, " "), err)
	}
	s.url = "http://" + addr
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	return nil
}

// waitReady polls /v1/ping until it answers 200.
func (s *retoolServer) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("retool serve exited before it was ready (%v); its log:\n%s", s.waitErr, s.logTail(20))
		default:
		}
		if ping(ctx, s.url) == nil {
			return nil
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return fmt.Errorf("wait for retool serve: %w", ctx.Err())
		}
	}
	return fmt.Errorf("retool serve did not answer /v1/ping within %s; its log:\n%s", limit, s.logTail(20))
}

// ping fails unless GET /v1/ping answers 200 within a second.
func ping(ctx context.Context, baseURL string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/ping", nil)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping: HTTP %d", resp.StatusCode)
	}
	return nil
}

// alive reports whether the server process is still running.
func (s *retoolServer) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// shutdown is how the server went away at the end of the run.
type shutdown struct {
	Graceful  bool    `json:"graceful"` // exited by itself within the grace after SIGTERM
	Seconds   float64 `json:"seconds"`
	ExitError string  `json:"exit_error,omitempty"`
	Leftovers int     `json:"leftover_plugin_processes"` // still running after the server exited
}

// stop sends SIGTERM, waits up to grace, then kills the process group
// and any plugin process left, and removes the temp dir.
func (s *retoolServer) stop(grace time.Duration) shutdown {
	var sd shutdown
	if s.cmd != nil && s.cmd.Process != nil {
		t0 := time.Now()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			sd.Graceful = true
		case <-time.After(grace):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		sd.Seconds = time.Since(t0).Seconds()
		if s.waitErr != nil {
			sd.ExitError = s.waitErr.Error()
		}
		time.Sleep(200 * time.Millisecond) // let the plugins see their parent go
		sd.Leftovers = len(pluginPIDs(s.pluginDir, ""))
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	s.cleanup()
	return sd
}

// cleanup kills every process still running from the plugin dir and
// removes the temp dir.
func (s *retoolServer) cleanup() {
	for _, pid := range pluginPIDs(s.pluginDir, "") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := os.RemoveAll(s.tmp); err != nil {
		fmt.Fprintf(os.Stderr, "bench/serve: remove %s: %v\n", s.tmp, err)
	}
}

// logTail is the last n lines of the server's log.
func (s *retoolServer) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logLines returns the log's lines that contain any of words (at most
// limit of them), to report what the server complained about.
func (s *retoolServer) logLines(limit int, words ...string) (lines []string, total int) {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return nil, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				total++
				if len(lines) < limit {
					lines = append(lines, clip(line, 400))
				}
				break
			}
		}
	}
	return lines, total
}

// retoolVersion asks bin/retool for its version.
func retoolVersion(binDir string) string {
	out, err := exec.Command(filepath.Join(binDir, "retool"), "version").Output()
	if err != nil {
		return "unknown: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

// pluginPIDs lists the runtime plugin processes started from pluginDir:
// the executable lies under pluginDir and, when name is set, is called
// name. Sandbox inits re-executed from the same binary (argv[0]
// retool-sandbox-init) are not plugins and are skipped unless name is "".
func pluginPIDs(pluginDir, name string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if isPlugin(pid, pluginDir, name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func isPlugin(pid int, pluginDir, name string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !strings.HasPrefix(exe, pluginDir+string(filepath.Separator)) {
		return false
	}
	if name == "" {
		return true
	}
	if filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != name {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return !bytes.Equal(argv0, []byte("retool-sandbox-init")) && processState(pid) != 'Z'
}

// processState is the state letter in /proc/PID/stat (Z for a zombie).
func processState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
