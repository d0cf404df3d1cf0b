package install

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestInstallSources(t *testing.T) {
	t.Parallel()
	js := info("js", "1.2.0", "javascript", "typescript")
	tests := []struct {
		name string
		// source creates the source in dir and returns what is passed to Install.
		source func(t *testing.T, dir string) string
	}{
		{"binary file", func(t *testing.T, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "retool-runtime-js"), pluginBytes(t, js), 0o755)
		}},
		{"binary file with another name", func(t *testing.T, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "my-build"), pluginBytes(t, js), 0o700)
		}},
		{"directory without SHA256SUMS", func(t *testing.T, dir string) string {
			writeFileMode(t, filepath.Join(dir, "rel", "retool-runtime-js"), pluginBytes(t, js), 0o755)
			writeFileMode(t, filepath.Join(dir, "rel", "retool-runtime-js.sha256"), []byte("x"), 0o644)
			return filepath.Join(dir, "rel")
		}},
		{"directory with matching SHA256SUMS", func(t *testing.T, dir string) string {
			bin := pluginBytes(t, js)
			writeFileMode(t, filepath.Join(dir, "rel", "retool-runtime-js"), bin, 0o755)
			writeFileMode(t, filepath.Join(dir, "rel", SumsFile), []byte(sumLine([]byte("other"), "README")+sumLine(bin, "retool-runtime-js")), 0o644)
			return filepath.Join(dir, "rel")
		}},
		{"tar.gz flat", func(t *testing.T, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "js.tar.gz"), release(t, js, ""), 0o644)
		}},
		{"tgz with top-level directory", func(t *testing.T, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "js.tgz"), release(t, js, "./retool-runtime-js_1.2.0/"), 0o644)
		}},
		{"URL to tar.gz", func(t *testing.T, dir string) string {
			srv := serve(t, map[string]route{"/dl/js.tar.gz": {body: release(t, js, "")}})
			return srv.URL + "/dl/js.tar.gz"
		}},
		{"URL to binary with .sha256", func(t *testing.T, dir string) string {
			bin := pluginBytes(t, js)
			srv := serve(t, map[string]route{
				"/dl/retool-runtime-js":        {body: bin},
				"/dl/retool-runtime-js.sha256": {body: []byte(sha(bin) + "\n")},
			})
			return srv.URL + "/dl/retool-runtime-js"
		}},
		{"URL to binary with SHA256SUMS beside it", func(t *testing.T, dir string) string {
			bin := pluginBytes(t, js)
			srv := serve(t, map[string]route{
				"/dl/retool-runtime-js": {body: bin},
				"/dl/SHA256SUMS":        {body: []byte(sumLine(bin, "retool-runtime-js"))},
			})
			return srv.URL + "/dl/retool-runtime-js"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, p := newDir(t)
			src := tc.source(t, t.TempDir())
			m, err := d.Install(context.Background(), src, Options{})
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			root, _ := filepath.Abs(d.Root)
			wantBin := filepath.Join(root, "js", "1.2.0", "retool-runtime-js")
			wantBody := pluginBytes(t, js)
			if m.Name != "js" || m.Version != "1.2.0" || m.ProtocolVersion != 1 ||
				!slices.Equal(m.Languages, js.Languages) || !slices.Equal(m.Capabilities, js.Capabilities) ||
				m.Binary != wantBin || m.SHA256 != sha(wantBody) || m.Source != src || m.InstalledAt.IsZero() {
				t.Fatalf("manifest = %+v", m)
			}
			got, err := os.ReadFile(wantBin)
			if err != nil || !bytes.Equal(got, wantBody) {
				t.Fatalf("installed binary: %v, content ok=%v", err, bytes.Equal(got, wantBody))
			}
			for p, mode := range map[string]os.FileMode{
				wantBin: 0o755,
				filepath.Join(root, "js", "1.2.0", manifestFile): 0o644,
				filepath.Join(root, "js", currentFile):           0o644,
				filepath.Join(root, "js"):                        0o755,
				filepath.Join(root, "js", "1.2.0"):               0o755,
			} {
				if got := fileMode(t, p); got != mode {
					t.Errorf("mode of %s = %v, want %v", p, got, mode)
				}
			}
			if cur, _ := os.ReadFile(filepath.Join(root, "js", currentFile)); strings.TrimSpace(string(cur)) != "1.2.0" {
				t.Errorf("current = %q", cur)
			}
			var onDisk Manifest
			data, _ := os.ReadFile(filepath.Join(root, "js", "1.2.0", manifestFile))
			if err := json.Unmarshal(data, &onDisk); err != nil || onDisk.SHA256 != m.SHA256 || !onDisk.InstalledAt.Equal(m.InstalledAt) {
				t.Errorf("manifest.json = %s (%v)", data, err)
			}
			g, err := d.Get("js")
			if err != nil || g.Binary != m.Binary || g.SHA256 != m.SHA256 {
				t.Errorf("Get = %+v, %v", g, err)
			}
			if err := d.Verify(g); err != nil {
				t.Errorf("Verify: %v", err)
			}
			calls := p.probed()
			if len(calls) != 1 || !strings.HasPrefix(calls[0], filepath.Join(root, stagePrefix)) {
				t.Errorf("probe calls = %q, want one call on a binary staged in %s", calls, root)
			}
			assertRootHolds(t, root, "js")
		})
	}
}

func TestInstallRefused(t *testing.T) {
	t.Parallel()
	js := info("js", "1.0.0", "javascript")
	bin := func(t *testing.T) []byte { return pluginBytes(t, js) }
	jsTar := func(t *testing.T, dir string, entries ...tarEntry) string {
		return writeFileMode(t, filepath.Join(dir, "js.tar.gz"), tarGz(t, entries...), 0o644)
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, d *Dir, dir string) string // returns the source
		wantErr error
		wantMsg string
	}{
		{"missing file", func(t *testing.T, d *Dir, dir string) string {
			return filepath.Join(dir, "nope")
		}, ErrBadSource, "does not exist"},
		{"not executable", func(t *testing.T, d *Dir, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "retool-runtime-js"), bin(t), 0o644)
		}, ErrBadSource, "not executable"},
		{"unsupported scheme", func(t *testing.T, d *Dir, dir string) string {
			return "ftp://example.com/js.tar.gz"
		}, ErrBadSource, "unsupported URL scheme"},
		{"dir without binary", func(t *testing.T, d *Dir, dir string) string {
			writeFileMode(t, filepath.Join(dir, "rel", "README"), []byte("x"), 0o755)
			return filepath.Join(dir, "rel")
		}, ErrBadSource, "no retool-runtime-* executable"},
		{"dir with two binaries", func(t *testing.T, d *Dir, dir string) string {
			writeFileMode(t, filepath.Join(dir, "rel", "retool-runtime-js"), bin(t), 0o755)
			writeFileMode(t, filepath.Join(dir, "rel", "retool-runtime-py"), bin(t), 0o755)
			return filepath.Join(dir, "rel")
		}, ErrBadSource, "retool-runtime-js, retool-runtime-py"},
		{"dir with wrong SHA256SUMS", func(t *testing.T, d *Dir, dir string) string {
			writeFileMode(t, filepath.Join(dir, "rel", "retool-runtime-js"), bin(t), 0o755)
			writeFileMode(t, filepath.Join(dir, "rel", SumsFile), []byte(sumLine([]byte("tampered"), "retool-runtime-js")), 0o644)
			return filepath.Join(dir, "rel")
		}, ErrChecksumMismatch, "checksum mismatch for retool-runtime-js: SHA256SUMS says " + sha([]byte("tampered")) + ", file is "},
		{"tar.gz without SHA256SUMS", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", body: bin(t)})
		}, ErrBadSource, "no SHA256SUMS next to retool-runtime-js"},
		{"tar.gz without a line for the binary", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", body: bin(t)},
				tarEntry{name: SumsFile, body: []byte(sumLine(bin(t), "retool-runtime-py"))})
		}, ErrBadSource, "SHA256SUMS has no line for retool-runtime-js"},
		{"tar.gz with wrong hash", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", body: bin(t)},
				tarEntry{name: SumsFile, body: []byte(sumLine([]byte("other"), "retool-runtime-js"))})
		}, ErrChecksumMismatch, "checksum mismatch for retool-runtime-js: SHA256SUMS says " + sha([]byte("other"))},
		{"tar.gz with traversal entry", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", body: bin(t)},
				tarEntry{name: SumsFile, body: []byte(sumLine(bin(t), "retool-runtime-js"))},
				tarEntry{name: "../../../escaped", body: []byte("pwned")})
		}, ErrBadSource, `"../../../escaped" escapes the archive`},
		{"tar.gz with absolute entry", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: filepath.Join(dir, "abs-escaped"), body: []byte("pwned")})
		}, ErrBadSource, "is an absolute path"},
		{"tar.gz with symlink", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", typ: '2', link: "/bin/sh"})
		}, ErrBadSource, `"retool-runtime-js" is a link (to "/bin/sh")`},
		{"tar.gz with hard link", func(t *testing.T, d *Dir, dir string) string {
			return jsTar(t, dir, tarEntry{name: "x", typ: '1', link: "../../etc/passwd"})
		}, ErrBadSource, "is a link"},
		{"tar.gz with two binaries", func(t *testing.T, d *Dir, dir string) string {
			py := pluginBytes(t, info("py", "1.0.0", "python"))
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", body: bin(t)},
				tarEntry{name: "retool-runtime-py", body: py},
				tarEntry{name: SumsFile, body: []byte(sumLine(bin(t), "retool-runtime-js") + sumLine(py, "retool-runtime-py"))})
		}, ErrBadSource, "2 retool-runtime-* binaries (retool-runtime-js, retool-runtime-py)"},
		{"tar.gz over the size cap", func(t *testing.T, d *Dir, dir string) string {
			d.MaxBytes = 4096
			return jsTar(t, dir, tarEntry{name: "retool-runtime-js", body: bin(t)},
				tarEntry{name: "padding", body: make([]byte, 1<<20)})
		}, ErrBadSource, "unpacks to more than 4.0 KiB"},
		{"not gzip", func(t *testing.T, d *Dir, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "js.tgz"), []byte("plain text"), 0o644)
		}, ErrBadSource, "not a gzip-compressed tar"},
		{"URL 404", func(t *testing.T, d *Dir, dir string) string {
			return serve(t, nil).URL + "/dl/js.tar.gz"
		}, ErrBadSource, "/dl/js.tar.gz: server returned 404 Not Found"},
		{"URL 500", func(t *testing.T, d *Dir, dir string) string {
			return serve(t, map[string]route{"/js.tgz": {status: 500}}).URL + "/js.tgz"
		}, ErrBadSource, "server returned 500 Internal Server Error"},
		{"URL bad checksum", func(t *testing.T, d *Dir, dir string) string {
			return serve(t, map[string]route{
				"/retool-runtime-js":        {body: bin(t)},
				"/retool-runtime-js.sha256": {body: []byte(sumLine([]byte("evil"), "retool-runtime-js"))},
			}).URL + "/retool-runtime-js"
		}, ErrChecksumMismatch, "retool-runtime-js.sha256 says " + sha([]byte("evil"))},
		{"URL binary without published checksum", func(t *testing.T, d *Dir, dir string) string {
			return serve(t, map[string]route{"/retool-runtime-js": {body: bin(t)}}).URL + "/retool-runtime-js"
		}, ErrBadSource, "no checksum published for retool-runtime-js"},
		{"URL of unknown kind", func(t *testing.T, d *Dir, dir string) string {
			return serve(t, nil).URL + "/js.zip"
		}, ErrBadSource, `not "js.zip"`},
		{"probe fails", func(t *testing.T, d *Dir, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "retool-runtime-js"), []byte("\x7fELF garbage"), 0o755)
		}, ErrNotAPlugin, "retool-runtime-js is not a retool plugin: probe failed: plugin exited before handshake; exec format error"},
		{"protocol mismatch", func(t *testing.T, d *Dir, dir string) string {
			in := js
			in.ProtocolVersion = 2
			return writeFileMode(t, filepath.Join(dir, "retool-runtime-js"), pluginBytes(t, in), 0o755)
		}, ErrProtocolMismatch, "speaks plugin protocol 2, this retool speaks 1"},
		{"invalid reported name", func(t *testing.T, d *Dir, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "retool-runtime-js"), pluginBytes(t, info("../JS", "1.0.0")), 0o755)
		}, ErrNotAPlugin, "invalid plugin name"},
		{"invalid reported version", func(t *testing.T, d *Dir, dir string) string {
			return writeFileMode(t, filepath.Join(dir, "retool-runtime-js"), pluginBytes(t, info("js", "../1")), 0o755)
		}, ErrNotAPlugin, "invalid version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, _ := newDir(t)
			base := filepath.Dir(d.Root) // the test's temp dir; nothing may escape into it
			dir := t.TempDir()
			src := tc.setup(t, d, dir)
			m, err := d.Install(context.Background(), src, Options{})
			if err == nil {
				t.Fatalf("Install succeeded: %+v", m)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q is not %v", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "install "+src+": ") || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error = %q\nwant prefix %q and %q", err, "install "+src+": ", tc.wantMsg)
			}
			assertOneLine(t, err)
			assertRootHolds(t, d.Root)
			for _, p := range []string{filepath.Join(base, "escaped"), filepath.Join(dir, "abs-escaped")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("archive wrote outside the plugin dir: %s", p)
				}
			}
			if ms, err := d.List(); err != nil || len(ms) != 0 {
				t.Errorf("List after refused install = %v, %v", ms, err)
			}
		})
	}
}

func TestNameClash(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	v1 := mustInstall(t, d, info("js", "1.0.0", "javascript"), Options{})

	src := writeFileMode(t, filepath.Join(t.TempDir(), "retool-runtime-js"), pluginBytes(t, info("js", "2.0.0", "javascript")), 0o755)
	_, err := d.Install(context.Background(), src, Options{})
	if !errors.Is(err, ErrAlreadyInstalled) || !strings.Contains(err.Error(), "plugin js 1.0.0 is already installed") {
		t.Fatalf("second install without Force: %v", err)
	}
	assertOneLine(t, err)
	if m, err := d.Get("js"); err != nil || m.Version != "1.0.0" {
		t.Fatalf("after refused install Get = %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "js", "2.0.0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused version left on disk: %v", err)
	}
	assertRootHolds(t, d.Root, "js")

	v2, err := d.Install(context.Background(), src, Options{Force: true})
	if err != nil {
		t.Fatalf("install with Force: %v", err)
	}
	if m, err := d.Get("js"); err != nil || m.Version != "2.0.0" || m.SHA256 != v2.SHA256 {
		t.Fatalf("after forced install Get = %+v, %v", m, err)
	}
	if _, err := os.Stat(v1.Binary); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old version still on disk after Force: %v", err)
	}
	if err := d.Verify(v2); err != nil {
		t.Errorf("Verify: %v", err)
	}
	assertRootHolds(t, d.Root, "js")

	// Force over the same version also works.
	if _, err := d.Install(context.Background(), src, Options{Force: true}); err != nil {
		t.Fatalf("reinstall same version with Force: %v", err)
	}
	assertRootHolds(t, d.Root, "js")
}

func TestLanguageClash(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		d, _ := newDir(t)
		mustInstall(t, d, info("js", "1.0.0", "javascript", "typescript"), Options{})
		src := writeFileMode(t, filepath.Join(t.TempDir(), "retool-runtime-node"), pluginBytes(t, info("node", "3.0.0", "TypeScript")), 0o755)
		_, err := d.Install(context.Background(), src, Options{Force: force})
		if !errors.Is(err, ErrLanguageConflict) {
			t.Fatalf("force=%v: err = %v, want ErrLanguageConflict", force, err)
		}
		if !strings.Contains(err.Error(), `plugin node 3.0.0 provides language "TypeScript", which plugin js 1.0.0 already provides`) {
			t.Errorf("message does not name the other plugin: %q", err)
		}
		assertOneLine(t, err)
		assertRootHolds(t, d.Root, "js")
	}
}

func TestConcurrentLanguageClash(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	var srcs []string
	for _, name := range []string{"alpha", "beta", "gamma", "delta"} {
		srcs = append(srcs, writeFileMode(t, filepath.Join(t.TempDir(), BinaryName(name)), pluginBytes(t, info(name, "1.0.0", "python")), 0o755))
	}
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Go(func() { _, errs[i] = d.Install(context.Background(), src, Options{}) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrLanguageConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	ms, err := d.List()
	if ok != 1 || err != nil || len(ms) != 1 {
		t.Fatalf("%d installs succeeded, List = %v, %v; want exactly one", ok, ms, err)
	}
	assertRootHolds(t, d.Root, ms[0].Name)
}

func TestList(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	if ms, err := d.List(); err != nil || len(ms) != 0 {
		t.Fatalf("List of a missing root = %v, %v", ms, err)
	}
	for _, name := range []string{"zeta", "alpha", "mid-1", "b_2"} {
		mustInstall(t, d, info(name, "0.1.0", "lang-"+name), Options{})
	}
	ms, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if want := []string{"alpha", "b_2", "mid-1", "zeta"}; !slices.Equal(names, want) {
		t.Fatalf("List order = %q, want %q", names, want)
	}

	// A damaged plugin directory is reported, not silently skipped.
	if err := os.Remove(filepath.Join(d.Root, "mid-1", currentFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.List(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "plugin mid-1 is damaged") {
		t.Fatalf("List with damaged plugin: %v", err)
	}
	if err := d.Remove("mid-1"); err != nil {
		t.Fatalf("Remove damaged plugin: %v", err)
	}
	if ms, err := d.List(); err != nil || len(ms) != 3 {
		t.Fatalf("List after removing damaged plugin = %v, %v", ms, err)
	}
}

func TestGetRemove(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	for _, name := range []string{"nope", "../etc", "", "UPPER"} {
		if _, err := d.Get(name); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("Get(%q) = %v, want ErrNotInstalled", name, err)
		}
		if err := d.Remove(name); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("Remove(%q) = %v, want ErrNotInstalled", name, err)
		}
	}
	mustInstall(t, d, info("js", "1.0.0", "javascript"), Options{})
	mustInstall(t, d, info("py", "1.0.0", "python"), Options{})
	if err := d.Remove("js"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := d.Get("js"); !errors.Is(err, ErrNotInstalled) || err.Error() != "plugin js is not installed (in "+d.Root+")" {
		t.Fatalf("Get after Remove = %v", err)
	}
	if err := d.Remove("js"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("second Remove = %v", err)
	}
	assertRootHolds(t, d.Root, "py")
	// The language is free again.
	mustInstall(t, d, info("node", "1.0.0", "javascript"), Options{})
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		alter   func(t *testing.T, bin string)
		wantErr error
	}{
		{"untouched", func(t *testing.T, bin string) {}, nil},
		{"rewritten", func(t *testing.T, bin string) {
			writeFileMode(t, bin, []byte("#!/bin/sh\necho pwned\n"), 0o755)
		}, ErrChecksumMismatch},
		{"appended", func(t *testing.T, bin string) {
			f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{0})
			f.Close()
		}, ErrChecksumMismatch},
		{"deleted", func(t *testing.T, bin string) { os.Remove(bin) }, os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, _ := newDir(t)
			m := mustInstall(t, d, info("js", "1.0.0"), Options{})
			tc.alter(t, m.Binary)
			err := d.Verify(m)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == ErrChecksumMismatch && !strings.Contains(err.Error(), "manifest says "+m.SHA256+", file is ") {
				t.Errorf("message = %q", err)
			}
		})
	}
}

func TestProgressAndRedaction(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	body := release(t, info("js", "1.0.0"), "")
	srv := serve(t, map[string]route{"/js.tar.gz": {body: body}})
	src := strings.Replace(srv.URL, "http://", "http://user:secret@", 1) + "/js.tar.gz"
	var out bytes.Buffer
	m, err := d.Install(context.Background(), src, Options{Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "downloading ") || !strings.Contains(out.String(), "downloaded ") {
		t.Errorf("progress = %q", out.String())
	}
	if strings.Contains(m.Source, "secret") || strings.Contains(out.String(), "secret") {
		t.Errorf("password leaked: source %q, progress %q", m.Source, out.String())
	}
}

func TestInstallMisconfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dir  *Dir
	}{
		{"no root", &Dir{Probe: &fakeProber{}, ProtocolVersion: 1}},
		{"no prober", &Dir{Root: t.TempDir(), ProtocolVersion: 1}},
		{"no protocol", &Dir{Root: t.TempDir(), Probe: &fakeProber{}}},
	}
	for _, tc := range tests {
		if _, err := tc.dir.Install(context.Background(), "x", Options{}); err == nil {
			t.Errorf("%s: Install succeeded", tc.name)
		}
	}
	// A canceled context stops before anything is created.
	d, _ := newDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Install(ctx, "x", Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Install = %v", err)
	}
}

func TestDefaultRoot(t *testing.T) {
	// Not parallel: uses t.Setenv.
	dir := t.TempDir()
	t.Setenv(EnvPluginDir, dir)
	if got, err := DefaultRoot(); err != nil || got != dir {
		t.Errorf("DefaultRoot with %s = %q, %v", EnvPluginDir, got, err)
	}
	t.Setenv(EnvPluginDir, "")
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	want, _ := os.UserConfigDir()
	if got, err := DefaultRoot(); err != nil || got != filepath.Join(want, "retool", "plugins") {
		t.Errorf("DefaultRoot = %q, %v", got, err)
	}
}
