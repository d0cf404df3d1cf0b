package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retool-rl/retool/core/sandbox/containerd"
	"github.com/retool-rl/retool/core/sandbox/containerd/ctrdtest"
)

// tarEntries reads an archive's entries: name -> content.
func tarEntries(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func TestImageBuild(t *testing.T) {
	c := newCLI(t)
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "usr", "bin", "hello"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"image", "build"}, "image build: give --out FILE, --import, or both"},
		{[]string{"image", "build", "--rootfs", rootfs, "--out", "x.tar"}, "--rootfs needs --ref"},
		{[]string{"image", "build", "--rootfs", filepath.Join(rootfs, "nope"), "--ref", "r:1", "--out", "x.tar"}, "is not a directory"},
	} {
		_, stderr, code := c.run("", tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.err) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("retool %s: exit %d, stderr %q; want one line saying %q", strings.Join(tc.args, " "), code, stderr, tc.err)
		}
	}

	host := filepath.Join(c.workDir, "host.tar")
	c.must("image", "build", "--out", host)
	e := tarEntries(t, host)
	var index struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(e["index.json"], &index); err != nil || len(index.Manifests) != 1 ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != containerd.HostImage {
		t.Errorf("host archive index.json %s: %v", e["index.json"], err)
	}
	if _, ok := e["oci-layout"]; !ok {
		t.Errorf("host archive has no oci-layout: %v", e)
	}

	own := filepath.Join(c.workDir, "own.tar")
	out := c.must("image", "build", "--rootfs", rootfs, "--ref", "retool.local/hello:1", "--out", own)
	if !strings.Contains(out, "wrote "+own+" (retool.local/hello:1") {
		t.Errorf("output %q", out)
	}
	// The layer is the biggest blob; it holds the tree and the mount points.
	var layer []byte
	for name, b := range tarEntries(t, own) {
		if strings.HasPrefix(name, "blobs/") && len(b) > len(layer) {
			layer = b
		}
	}
	tmp := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(tmp, layer, 0o644); err != nil {
		t.Fatal(err)
	}
	le := tarEntries(t, tmp)
	if string(le["usr/bin/hello"]) != "#!/bin/sh\necho hi\n" {
		t.Errorf("layer lacks usr/bin/hello: %v", keys(le))
	}
	for _, m := range []string{"proc/", "dev/", "tmp/", "work/", "etc/"} {
		if _, ok := le[m]; !ok {
			t.Errorf("layer lacks mount point %s: %v", m, keys(le))
		}
	}

	d, skip, err := ctrdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Logf("import not tried: %s", skip)
		return
	}
	defer d.Stop()
	_, stderr, code := c.runEnv([]string{"RETOOL_SANDBOX_CONTAINERD_SOCKET=" + d.Socket},
		"image", "build", "--rootfs", rootfs, "--ref", "retool.local/hello:1", "--import")
	if code != 0 {
		t.Fatalf("--import: exit %d: %s", code, stderr)
	}
	cl, err := containerd.Connect(context.Background(), containerd.Config{Socket: d.Socket})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if ok, err := cl.HasImage(context.Background(), "retool.local/hello:1"); err != nil || !ok {
		t.Errorf("image not in containerd after --import: %v %v", ok, err)
	}
	t.Logf("imported into a private containerd")
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
