package install

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxArchiveEntries caps the number of entries in a release archive.
const maxArchiveEntries = 10000

// extractTarGz unpacks a gzip-compressed tar into dst. Only regular files and directories are
// accepted: absolute names, ".." components, links and device entries are refused, as are archives
// whose files add up to more than maxBytes.
func extractTarGz(ctx context.Context, archive, dst string, maxBytes int64) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return newError(ErrBadSource, err, "release is not a gzip-compressed tar: %v", err)
	}
	defer gz.Close()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	var total int64
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return newError(ErrBadSource, nil, "release archive is empty")
			}
			return nil
		}
		if err != nil {
			return newError(ErrBadSource, err, "corrupt release archive: %v", err)
		}
		if n >= maxArchiveEntries {
			return newError(ErrBadSource, nil, "release archive has more than %d entries", maxArchiveEntries)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		rel, err := safeEntryPath(hdr.Name)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return newError(ErrBadSource, err, "archive entry %q: %v", hdr.Name, err)
			}
		case tar.TypeReg:
			if hdr.Size < 0 || hdr.Size > maxBytes-total {
				return newError(ErrBadSource, nil, "release archive unpacks to more than %s (entry %q); refusing", humanBytes(maxBytes), hdr.Name)
			}
			total += hdr.Size
			if err := writeEntry(tr, target, hdr); err != nil {
				return err
			}
		case tar.TypeSymlink, tar.TypeLink:
			return newError(ErrBadSource, nil, "archive entry %q is a link (to %q); releases may only contain regular files and directories", hdr.Name, hdr.Linkname)
		default:
			return newError(ErrBadSource, nil, "archive entry %q has unsupported type %q; releases may only contain regular files and directories", hdr.Name, string(hdr.Typeflag))
		}
	}
}

// safeEntryPath returns the local, relative form of a tar entry name, refusing anything that could
// land outside the extraction directory.
func safeEntryPath(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", newError(ErrBadSource, nil, "archive entry %q %s; refusing release", name, why)
	}
	if name == "" {
		return bad("has an empty name")
	}
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) || filepath.VolumeName(name) != "" {
		return bad("is an absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return bad("escapes the archive (contains \"..\")")
		}
	}
	if strings.ContainsRune(name, '\\') || strings.ContainsRune(name, 0) {
		return bad("contains a backslash or NUL")
	}
	local := filepath.FromSlash(path.Clean(name))
	if !filepath.IsLocal(local) {
		return bad("is not a local path")
	}
	return local, nil
}

func writeEntry(r io.Reader, target string, hdr *tar.Header) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return newError(ErrBadSource, err, "archive entry %q: %v", hdr.Name, err)
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return newError(ErrBadSource, err, "archive entry %q appears twice; refusing release", hdr.Name)
	}
	if err != nil {
		return newError(ErrBadSource, err, "archive entry %q: %v", hdr.Name, err)
	}
	n, err := io.Copy(out, r)
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("short entry (%d of %d bytes)", n, hdr.Size)
	}
	if err != nil {
		out.Close()
		return newError(ErrBadSource, err, "corrupt release archive: entry %q: %v", hdr.Name, err)
	}
	return out.Close()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
