package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd builds retool and this plugin, installs the plugin and runs
// JavaScript through `retool exec` as a user would.
func TestEndToEnd(t *testing.T) {
	if _, err := os.Stat("/usr/bin/node"); err != nil {
		t.Skip("skipping: /usr/bin/node is missing (install Node.js to run the js runtime)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	bin := t.TempDir()
	for pkg, out := range map[string]string{"./cmd/retool": "retool", "./examples/js": "retool-runtime-js"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	pluginDir := t.TempDir()
	work := t.TempDir() // no retool.hcl here: the embedded defaults apply

	type result struct {
		stdout, stderr string
		code           int
	}
	retool := func(stdin string, args ...string) result {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "retool"), args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "RETOOL_PLUGIN_DIR="+pluginDir)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("retool %q: %v", args, err)
		}
		return result{out.String(), errb.String(), code}
	}
	ok := func(r result, args []string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("retool %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}

	args := []string{"plugin", "install", filepath.Join(bin, "retool-runtime-js")}
	r := retool("", args...)
	ok(r, args)
	if !strings.Contains(r.stdout, "installed js") {
		t.Errorf("install said %q", r.stdout)
	}
	args = []string{"plugin", "list"}
	r = retool("", args...)
	ok(r, args)
	if !strings.Contains(r.stdout, "\njs ") || !strings.Contains(r.stdout, "javascript,js,nodejs") {
		t.Errorf("plugin list does not show js:\n%s", r.stdout)
	}

	for _, tc := range []struct {
		name, stdin, want string
		args              []string
	}{
		{"console.log", "", "42\n", []string{"-c", "console.log(6*7)"}},
		{"bare expression", "", "2\n", []string{"-c", "1+1"}},
		{"alias nodejs", "", "hi\n", []string{"--lang", "nodejs", "-c", "'hi'"}},
		{"require", "", "function\n", []string{"-c", "typeof require('fs').readFileSync"}},
		{"stdin", "hello\nworld\n", "HELLO\nWORLD\n",
			[]string{"--stdin", "-", "-c", "console.log(require('fs').readFileSync(0, 'utf8').toUpperCase().trimEnd())"}},
		{"async", "", "now\nlater\n",
			[]string{"-c", "setTimeout(() => console.log('later'), 100); console.log('now')"}},
		{"promise", "", "done\n",
			[]string{"-c", "(async () => { await new Promise(r => setTimeout(r, 50)); return 'done' })()"}},
	} {
		args := append([]string{"exec", "--lang", "js"}, tc.args...)
		r := retool(tc.stdin, args...)
		ok(r, args)
		if r.stdout != tc.want {
			t.Errorf("%s: stdout %q, want %q (stderr %q)", tc.name, r.stdout, tc.want, r.stderr)
		}
	}

	r = retool("", "exec", "--lang", "js", "-c", "function f() { throw new Error('boom-42') }\nf()")
	if r.code == 0 || !strings.Contains(r.stderr, "Error: boom-42") || !strings.Contains(r.stderr, "code.js:1") {
		t.Errorf("thrown error: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "driver.js") {
		t.Errorf("the stack shows the driver's frames:\n%s", r.stderr)
	}

	start := time.Now()
	r = retool("", "exec", "--lang", "js", "--timeout", "1s", "-c", "while(true){}")
	if r.code == 0 || !strings.Contains(r.stderr, "timeout") {
		t.Errorf("timeout: exit %d, stderr %q", r.code, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a 1s timeout took %s", d)
	}

	args = []string{"plugin", "remove", "js"}
	ok(retool("", args...), args)
	if r := retool("", "plugin", "list"); strings.Contains(r.stdout, "\njs ") {
		t.Errorf("js still listed after remove:\n%s", r.stdout)
	}
}
