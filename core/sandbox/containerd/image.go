package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	imgspecs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageNameAnnotation is what client.Import names an imported image by;
// without it the image would need a ref translator at import time.
const imageNameAnnotation = "io.containerd.image.name"

// EnsureHostImage makes sure the host image ref exists and is unpacked
// into the snapshotter. The image is built here, not pulled: its single
// layer holds only mount points and the merged-/usr symlinks, because the
// backend binds the host's /usr and /etc over it in every worker.
func (c *Client) EnsureHostImage(ctx context.Context, ref string) error {
	return c.ensureImage(ctx, ref, func(ctx context.Context) error {
		layout, err := HostImageArchive(ref)
		if err != nil {
			return fmt.Errorf("containerd: build image %s: %w", ref, err)
		}
		return c.Import(ctx, ref, layout)
	})
}

// pullImage makes sure ref is in containerd, pulling it if it is not.
func (c *Client) pullImage(ctx context.Context, ref string) error {
	return c.ensureImage(ctx, ref, func(ctx context.Context) error {
		_, err := c.c.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithPullSnapshotter(c.cfg.Snapshotter))
		if err != nil {
			return fmt.Errorf("containerd: image %s is not in namespace %s and pulling it failed: %w "+
				"(without a registry, import an OCI archive: ctr -n %s images import FILE)",
				ref, c.cfg.Namespace, err, c.cfg.Namespace)
		}
		return nil
	})
}

// ensureImage makes sure ref is in containerd and unpacked; a missing
// image is fetched (built and imported, or pulled: fetch unpacks it).
func (c *Client) ensureImage(ctx context.Context, ref string, fetch func(context.Context) error) error {
	ctx = c.ns(ctx)
	img, err := c.c.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return fetch(ctx)
	} else if err != nil {
		return fmt.Errorf("containerd: get image %s: %w", ref, err)
	}
	// An image can exist without its snapshot (another snapshotter, or
	// the snapshot was pruned), so check unpacking separately.
	ok, err := img.IsUnpacked(ctx, c.cfg.Snapshotter)
	if err != nil {
		return fmt.Errorf("containerd: image %s: check unpacked: %w", ref, err)
	}
	if !ok {
		if err := img.Unpack(ctx, c.cfg.Snapshotter); err != nil {
			return fmt.Errorf("containerd: unpack image %s: %w", ref, err)
		}
	}
	return nil
}

// HasImage reports whether containerd holds the image ref.
func (c *Client) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := c.c.GetImage(c.ns(ctx), ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("containerd: get image %s: %w", ref, err)
	}
	return true, nil
}

// Import imports an OCI archive (an image layout as a tar stream) and
// unpacks the image named ref from it.
func (c *Client) Import(ctx context.Context, ref string, archive []byte) error {
	ctx = c.ns(ctx)
	imgs, err := c.c.Import(ctx, bytes.NewReader(archive))
	if err != nil {
		return fmt.Errorf("containerd: import image %s: %w", ref, err)
	}
	for _, im := range imgs {
		if im.Name == ref {
			img := containerd.NewImage(c.c, im)
			if err := img.Unpack(ctx, c.cfg.Snapshotter); err != nil {
				return fmt.Errorf("containerd: unpack image %s: %w", ref, err)
			}
			return nil
		}
	}
	return fmt.Errorf("containerd: import image %s: not among the imported images", ref)
}

// HostImageArchive returns the host image as an OCI archive: one layer
// of mount points and the merged-/usr symlinks. It is only useful with
// the host's /usr and /etc bound over it, as the backend does for
// HostImage.
func HostImageArchive(ref string) ([]byte, error) {
	layer, err := hostImageLayer()
	if err != nil {
		return nil, err
	}
	return imageLayout(ref, layer)
}

// RootfsImageArchive returns an OCI archive of one image, ref, whose
// single layer is the tree at dir (a debootstrap tree, or the host's
// interpreter with its libraries): an image that holds its own
// interpreter. Owners become root; sockets and devices are skipped; the
// mount points the backend needs are added when missing.
func RootfsImageArchive(ref, dir string) ([]byte, error) {
	layer, err := dirLayer(dir)
	if err != nil {
		return nil, fmt.Errorf("image %s from %s: %w", ref, dir, err)
	}
	return imageLayout(ref, layer)
}

// mountPoints must exist in every image: the backend mounts over them
// (the rootfs is read-only, so they cannot be made at start).
var mountPoints = []string{"proc", "dev", "sys", "tmp", "run", "work", "etc"}

func dirLayer(dir string) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		case fi.IsDir(), fi.Mode().IsRegular():
		default:
			return nil
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		seen[filepath.ToSlash(rel)] = true
		if fi.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range mountPoints {
		if !seen[m] {
			mode := int64(0o755)
			if m == "tmp" {
				mode = 0o1777
			}
			if err := tw.WriteHeader(&tar.Header{Name: m + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: time.Unix(0, 0)}); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// imageLayout returns an OCI image layout, as a tar stream, holding one
// image named ref for the running platform with layer as its only layer.
func imageLayout(ref string, layer []byte) ([]byte, error) {
	blobs := map[digest.Digest][]byte{}
	add := func(mediaType string, data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		blobs[d] = data
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	// Uncompressed, so the layer's diff ID equals its digest.
	layerDesc := add(ocispec.MediaTypeImageLayer, layer)
	platform := ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: platform,
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: "/work",
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
	})
	if err != nil {
		return nil, err
	}
	cfgDesc := add(ocispec.MediaTypeImageConfig, cfg)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: imgspecs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return nil, err
	}
	manDesc := add(ocispec.MediaTypeImageManifest, manifest)
	manDesc.Annotations = map[string]string{imageNameAnnotation: ref}
	manDesc.Platform = &platform
	index, err := json.Marshal(ocispec.Index{
		Versioned: imgspecs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc},
	})
	if err != nil {
		return nil, err
	}

	files := []tarFile{
		{name: ocispec.ImageLayoutFile, data: []byte(`{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`)},
		{name: ocispec.ImageIndexFile, data: index},
	}
	keys := make([]digest.Digest, 0, len(blobs))
	for d := range blobs {
		keys = append(keys, d)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, d := range keys {
		files = append(files, tarFile{name: "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), data: blobs[d]})
	}
	return writeTar(files)
}

// hostImageLayer is the image's only layer: empty mount points and the
// symlinks a merged-/usr Debian expects at the root.
func hostImageLayer() ([]byte, error) {
	var files []tarFile
	for _, d := range []string{"usr", "etc", "tmp", "proc", "dev", "sys", "run", "work"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		files = append(files, tarFile{name: d + "/", dir: true, mode: mode})
	}
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}} {
		files = append(files, tarFile{name: l[0], link: l[1]})
	}
	return writeTar(files)
}

type tarFile struct {
	name string
	data []byte
	dir  bool
	link string
	mode int64
}

// writeTar writes files with fixed times and owners so the same input
// always gives the same digest.
func writeTar(files []tarFile) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: time.Unix(0, 0)}
		switch {
		case f.dir:
			h.Typeflag = tar.TypeDir
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
