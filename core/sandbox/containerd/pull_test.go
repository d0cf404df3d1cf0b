package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/retool-rl/retool/core/execution"
)

// registry is a read-only OCI distribution endpoint over plain HTTP on
// loopback (containerd's resolver speaks plain HTTP to localhost): just
// enough of the protocol for a pull.
type registry struct {
	manifest     []byte
	manifestType string
	blobs        map[string][]byte // by digest
	pulls        atomic.Int64      // blob downloads
}

// newRegistry serves the one image of an OCI archive under any name.
func newRegistry(t *testing.T, archive []byte) (*registry, string) {
	t.Helper()
	r := &registry{blobs: map[string][]byte{}}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
		if d, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok {
			r.blobs["sha256:"+d] = b
		}
	}
	var index struct {
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v", err)
	}
	r.manifest, r.manifestType = r.blobs[index.Manifests[0].Digest], index.Manifests[0].MediaType
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r, ln.Addr().String()
}

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	switch {
	case path == "/v2/" || path == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(path, "/manifests/"):
		w.Header().Set("Content-Type", r.manifestType)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(r.manifest).String())
		w.Header().Set("Content-Length", strconv.Itoa(len(r.manifest)))
		if req.Method != http.MethodHead {
			w.Write(r.manifest)
		}
	case strings.Contains(path, "/blobs/"):
		d := path[strings.LastIndex(path, "/")+1:]
		b, ok := r.blobs[d]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("Docker-Content-Digest", d)
		if req.Method != http.MethodHead {
			r.pulls.Add(1)
			w.Write(b)
		}
	default:
		http.NotFound(w, req)
	}
}

// TestSandboxPullsImage: an image containerd lacks is pulled from the
// registry its name points at (one served here on loopback), unpacked,
// and runs the pool: the code path for hosts where a registry is reachable.
func TestSandboxPullsImage(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	archive, err := RootfsImageArchive("pulled", pythonRootfs(t))
	if err != nil {
		t.Fatal(err)
	}
	reg, addr := newRegistry(t, archive)
	ref := addr + "/retool/python:pulled"
	s, err := NewSandbox(context.Background(), SandboxConfig{Config: testCfg, Image: ref, Init: staticInit(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		assertNoLeaks(t, s.Client())
		s.Close()
	}()
	if reg.pulls.Load() == 0 {
		t.Fatal("nothing was downloaded from the registry")
	}
	p := pythonPool(t, s, 1)
	res, err := p.Execute(context.Background(), &execution.Request{Code: "print(6*7)"})
	if err != nil || res.Status != execution.Finished || string(res.Stdout) != "42\n" {
		t.Errorf("%v %v %q %q %s", err, res.Status, res.Stdout, res.Stderr, res.Message)
	}
	p.Close()
	// A second sandbox finds the image and downloads nothing.
	before := reg.pulls.Load()
	s2, err := NewSandbox(context.Background(), SandboxConfig{Config: testCfg, Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if reg.pulls.Load() != before {
		t.Errorf("the image was downloaded again")
	}
}
