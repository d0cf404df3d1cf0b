package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeMagic starts the content of a fake plugin binary; the rest is its Info as JSON.
const fakeMagic = "#!retool-fake-plugin\n"

// fakeProber "starts" a binary by reading it: files starting with fakeMagic report the Info that
// follows; anything else fails like a non-plugin would (multi-line, as real stderr can be).
type fakeProber struct {
	mu    sync.Mutex
	calls []string
}

func (p *fakeProber) Probe(ctx context.Context, bin string) (Info, error) {
	p.mu.Lock()
	p.calls = append(p.calls, bin)
	p.mu.Unlock()
	fi, err := os.Stat(bin)
	if err != nil {
		return Info{}, err
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return Info{}, fmt.Errorf("fork/exec %s: permission denied", bin)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return Info{}, err
	}
	rest, ok := bytes.CutPrefix(data, []byte(fakeMagic))
	if !ok {
		return Info{}, errors.New("plugin exited before handshake\nexec format error")
	}
	var info Info
	if err := json.Unmarshal(rest, &info); err != nil {
		return Info{}, fmt.Errorf("bad handshake: %w", err)
	}
	return info, nil
}

func (p *fakeProber) probed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func info(name, version string, langs ...string) Info {
	return Info{Name: name, Version: version, Languages: langs, Capabilities: []string{"exec"}, ProtocolVersion: 1}
}

func pluginBytes(t *testing.T, in Info) []byte {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(fakeMagic), data...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sumLine(body []byte, name string) string { return sha(body) + "  " + name + "\n" }

func writeFileMode(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

type tarEntry struct {
	name string
	body []byte
	typ  byte // 0 = regular file
	link string
}

func tarGz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o755, Format: tar.FormatPAX}
		switch e.typ {
		case 0:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// release builds a good release: binary retool-runtime-NAME (under prefix) plus SHA256SUMS.
func release(t *testing.T, in Info, prefix string) []byte {
	t.Helper()
	bin := pluginBytes(t, in)
	fn := BinaryName(in.Name)
	return tarGz(t,
		tarEntry{name: prefix + fn, body: bin},
		tarEntry{name: prefix + SumsFile, body: []byte(sumLine(bin, fn))},
		tarEntry{name: prefix + "README.md", body: []byte("hello\n")},
	)
}

type route struct {
	status int
	body   []byte
}

// serve starts a loopback HTTP server answering the given paths; anything else is 404.
func serve(t *testing.T, routes map[string]route) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rt.status != 0 && rt.status != http.StatusOK {
			http.Error(w, http.StatusText(rt.status), rt.status)
			return
		}
		_, _ = w.Write(rt.body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newDir(t *testing.T) (*Dir, *fakeProber) {
	t.Helper()
	p := &fakeProber{}
	return &Dir{Root: filepath.Join(t.TempDir(), "plugins"), Probe: p, ProtocolVersion: 1}, p
}

// mustInstall installs a fake plugin from a binary file and returns its manifest.
func mustInstall(t *testing.T, d *Dir, in Info, opts Options) *Manifest {
	t.Helper()
	src := writeFileMode(t, filepath.Join(t.TempDir(), BinaryName(in.Name)), pluginBytes(t, in), 0o755)
	m, err := d.Install(context.Background(), src, opts)
	if err != nil {
		t.Fatalf("install %s: %v", in.Name, err)
	}
	return m
}

// assertRootHolds checks that Root contains exactly the given plugin dirs (plus the lock file):
// no staging or trash directories, nothing half-installed.
func assertRootHolds(t *testing.T, root string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Name() != ".lock" {
			got = append(got, e.Name())
		}
	}
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Fatalf("plugin dir holds %q, want %q", got, want)
	}
}

func assertOneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
