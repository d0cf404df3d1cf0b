package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
// layer holds only mount points and the merged-/usr symlinks, because Run
// bind-mounts the host's /usr and /etc over it.
func (c *Client) EnsureHostImage(ctx context.Context, ref string) error {
	ctx = c.ns(ctx)
	img, err := c.c.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		layout, lerr := hostImageLayout(ref)
		if lerr != nil {
			return fmt.Errorf("containerd: build image %s: %w", ref, lerr)
		}
		imgs, ierr := c.c.Import(ctx, bytes.NewReader(layout))
		if ierr != nil {
			return fmt.Errorf("containerd: import image %s: %w", ref, ierr)
		}
		for _, im := range imgs {
			if im.Name == ref {
				img = containerd.NewImage(c.c, im)
			}
		}
		if img == nil {
			return fmt.Errorf("containerd: import image %s: not among the imported images", ref)
		}
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

// hostImageLayout returns an OCI image layout, as a tar stream, holding
// one image named ref for the running platform.
func hostImageLayout(ref string) ([]byte, error) {
	blobs := map[digest.Digest][]byte{}
	add := func(mediaType string, data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		blobs[d] = data
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	layer, err := hostImageLayer()
	if err != nil {
		return nil, err
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
