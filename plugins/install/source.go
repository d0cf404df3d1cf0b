package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// staged is a candidate binary copied or extracted into the staging directory.
type staged struct {
	path     string // staged binary, inside the stage dir
	file     string // name shown in messages, e.g. retool-runtime-js
	want     string // expected SHA-256 hex; "" when the source publishes none (bare file, dir without SHA256SUMS)
	sumsFrom string // where want came from, for messages
}

func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func isArchiveName(s string) bool {
	l := strings.ToLower(s)
	return strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".tgz")
}

// isBinaryName reports whether base is retool-runtime-NAME with a valid NAME (so no ".sha256" etc.).
func isBinaryName(base string) bool {
	name, ok := strings.CutPrefix(base, BinaryPrefix)
	return ok && ValidateName(name) == nil
}

// displaySource is the source as shown in messages and recorded in manifests: URL passwords redacted.
func displaySource(source string) string {
	if isURL(source) {
		if u, err := url.Parse(source); err == nil {
			return u.Redacted()
		}
	}
	return oneLine(source)
}

func (d *Dir) stageSource(ctx context.Context, source, stage string, opts Options) (*staged, error) {
	switch {
	case source == "":
		return nil, newError(ErrBadSource, nil, "empty source: give a plugin binary, directory, .tar.gz release or http(s) URL")
	case isURL(source):
		return d.stageURL(ctx, source, stage, opts)
	case strings.Contains(source, "://"):
		return nil, newError(ErrBadSource, nil, "unsupported URL scheme: only http:// and https:// can be installed from")
	}
	fi, err := os.Stat(source)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newError(ErrBadSource, err, "%s does not exist", source)
	}
	if err != nil {
		return nil, newError(ErrBadSource, err, "cannot read source: %v", err)
	}
	switch {
	case fi.IsDir():
		return stageDir(source, stage)
	case fi.Mode().IsRegular() && isArchiveName(source):
		return d.stageArchive(ctx, source, stage)
	case fi.Mode().IsRegular():
		if fi.Mode().Perm()&0o111 == 0 {
			return nil, newError(ErrBadSource, nil, "%s is not executable (mode %v); chmod +x it or give a release", source, fi.Mode().Perm())
		}
		base := filepath.Base(source)
		dst := filepath.Join(stage, "bin", base)
		if err := copyIntoStage(source, dst); err != nil {
			return nil, err
		}
		return &staged{path: dst, file: base}, nil
	default:
		return nil, newError(ErrBadSource, nil, "%s is not a regular file, directory or URL (mode %v)", source, fi.Mode())
	}
}

// stageDir copies the single retool-runtime-* executable of dir, checking it against dir/SHA256SUMS if present.
func stageDir(dir, stage string) (*staged, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, newError(ErrBadSource, err, "cannot read directory: %v", err)
	}
	var bins, notExec []string
	for _, e := range entries {
		if !isBinaryName(e.Name()) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name())) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if fi.Mode().Perm()&0o111 == 0 {
			notExec = append(notExec, e.Name())
			continue
		}
		bins = append(bins, e.Name())
	}
	switch {
	case len(bins) == 0 && len(notExec) > 0:
		return nil, newError(ErrBadSource, nil, "%s contains %s but it is not executable", dir, strings.Join(notExec, ", "))
	case len(bins) == 0:
		return nil, newError(ErrBadSource, nil, "%s contains no %s* executable", dir, BinaryPrefix)
	case len(bins) > 1:
		return nil, newError(ErrBadSource, nil, "%s contains %d %s* executables (%s); expected exactly one",
			dir, len(bins), BinaryPrefix, strings.Join(bins, ", "))
	}
	base := bins[0]
	st := &staged{path: filepath.Join(stage, "bin", base), file: base}
	sumsPath := filepath.Join(dir, SumsFile)
	if _, err := os.Stat(sumsPath); err == nil {
		data, err := readSmall(sumsPath)
		if err != nil {
			return nil, err
		}
		if st.want, err = lookupSum(data, base, SumsFile, false); err != nil {
			return nil, err
		}
		st.sumsFrom = SumsFile
	}
	if err := copyIntoStage(filepath.Join(dir, base), st.path); err != nil {
		return nil, err
	}
	return st, nil
}

// stageArchive unpacks a .tar.gz release into the stage and finds its binary and SHA256SUMS.
func (d *Dir) stageArchive(ctx context.Context, archive, stage string) (*staged, error) {
	unpack := filepath.Join(stage, "unpack")
	if err := extractTarGz(ctx, archive, unpack, d.maxBytes()); err != nil {
		return nil, err
	}
	var bins []string
	err := filepath.WalkDir(unpack, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && isBinaryName(e.Name()) {
			bins = append(bins, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rel := func(p string) string {
		r, _ := filepath.Rel(unpack, p)
		return filepath.ToSlash(r)
	}
	switch len(bins) {
	case 0:
		return nil, newError(ErrBadSource, nil, "release contains no %s* binary", BinaryPrefix)
	case 1:
	default:
		names := make([]string, len(bins))
		for i, b := range bins {
			names[i] = rel(b)
		}
		return nil, newError(ErrBadSource, nil, "release contains %d %s* binaries (%s); expected exactly one",
			len(bins), BinaryPrefix, strings.Join(names, ", "))
	}
	bin := bins[0]
	base := filepath.Base(bin)
	sumsPath := filepath.Join(filepath.Dir(bin), SumsFile)
	sumsRel := rel(sumsPath)
	if _, err := os.Lstat(sumsPath); err != nil {
		return nil, newError(ErrBadSource, nil, "release has no %s next to %s; refusing to install an unverified binary", sumsRel, rel(bin))
	}
	data, err := readSmall(sumsPath)
	if err != nil {
		return nil, err
	}
	want, err := lookupSum(data, base, sumsRel, false)
	if err != nil {
		return nil, err
	}
	return &staged{path: bin, file: base, want: want, sumsFrom: sumsRel}, nil
}

// stageURL downloads a .tar.gz release, or a bare retool-runtime-* binary together with its checksum
// (URL.sha256, else SHA256SUMS in the same URL directory).
func (d *Dir) stageURL(ctx context.Context, raw, stage string, opts Options) (*staged, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, newError(ErrBadSource, err, "invalid URL: %v", err)
	}
	if u.Host == "" {
		return nil, newError(ErrBadSource, nil, "invalid URL: no host")
	}
	base := path.Base(u.Path)
	switch {
	case isArchiveName(base):
		dl := filepath.Join(stage, "download.tar.gz")
		if err := d.download(ctx, u, dl, opts.Progress); err != nil {
			return nil, err
		}
		return d.stageArchive(ctx, dl, stage)
	case strings.HasPrefix(base, BinaryPrefix) && base != BinaryPrefix:
		want, from, err := d.fetchChecksum(ctx, u, base)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(stage, "bin")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, base)
		if err := d.download(ctx, u, dst, opts.Progress); err != nil {
			return nil, err
		}
		return &staged{path: dst, file: base, want: want, sumsFrom: from}, nil
	default:
		return nil, newError(ErrBadSource, nil, "URL must name a .tar.gz/.tgz release or a %s* binary, not %q", BinaryPrefix, base)
	}
}

// fetchChecksum gets the expected hash of the binary at u: from u+".sha256", or, if that is absent
// (404/410), from SHA256SUMS beside it. Neither published → ErrBadSource.
func (d *Dir) fetchChecksum(ctx context.Context, u *url.URL, base string) (want, from string, err error) {
	side := *u
	side.Path += ".sha256"
	side.RawPath = ""
	data, found, err := d.fetchSmall(ctx, &side)
	if err != nil {
		return "", "", err
	}
	if found {
		from = side.Redacted()
		want, err = lookupSum(data, base, from, true)
		return want, from, err
	}
	sums := u.ResolveReference(&url.URL{Path: SumsFile})
	data, found, err = d.fetchSmall(ctx, sums)
	if err != nil {
		return "", "", err
	}
	if !found {
		return "", "", newError(ErrBadSource, nil, "no checksum published for %s: neither %s nor %s exists; refusing to install an unverified binary",
			base, side.Redacted(), sums.Redacted())
	}
	from = sums.Redacted()
	want, err = lookupSum(data, base, from, false)
	return want, from, err
}

// copyIntoStage copies src to dst (creating dst's directory), syncing the copy.
func copyIntoStage(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return newError(ErrBadSource, err, "cannot read %s: %v", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
