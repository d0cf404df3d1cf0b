package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Info is what a plugin binary reports about itself when started and asked.
type Info struct {
	Name            string
	Version         string
	Languages       []string
	Capabilities    []string
	ProtocolVersion int
}

// Prober starts a plugin binary and asks for its Info; it fails for a file that is not a retool plugin.
// The real implementation lives elsewhere (it speaks go-plugin); tests here use fakes.
type Prober interface {
	Probe(ctx context.Context, binaryPath string) (Info, error)
}

// Manifest describes one installed plugin. It is stored as JSON in Root/NAME/VERSION/manifest.json.
type Manifest struct {
	Name            string    `json:"name"`
	Version         string    `json:"version"`
	Languages       []string  `json:"languages"`
	Capabilities    []string  `json:"capabilities"`
	ProtocolVersion int       `json:"protocol_version"`
	Binary          string    `json:"binary"`       // absolute path of the installed binary
	SHA256          string    `json:"sha256"`       // hex of the installed binary
	Source          string    `json:"source"`       // what the user passed to install (URL credentials redacted)
	InstalledAt     time.Time `json:"installed_at"` // UTC
}

// Dir is a plugin directory. Its layout is
//
//	Root/NAME/current                      one line: the active VERSION
//	Root/NAME/VERSION/retool-runtime-NAME  the binary (0755)
//	Root/NAME/VERSION/manifest.json        its Manifest (0644)
//
// plus Root/.lock and transient Root/.install-* / .remove-* directories. A Dir is safe for concurrent
// use; installs and removals are serialised with a lock file on Root (across processes on Linux/BSD/macOS).
type Dir struct {
	Root            string       // plugin directory
	Probe           Prober       // asks a staged binary for its Info before it is accepted
	ProtocolVersion int          // the protocol this retool speaks; a plugin reporting another is refused
	HTTPClient      *http.Client // nil = a client with a sane timeout
	MaxBytes        int64        // cap on bytes downloaded or extracted for one install; 0 = DefaultMaxBytes
}

// Options tune Install.
type Options struct {
	// Force replaces an installed plugin of the same name (all its versions). It does not override a
	// language conflict with a plugin of another name.
	Force bool
	// Progress, if set, receives download progress lines.
	Progress io.Writer
}

const (
	// EnvPluginDir names the environment variable that overrides DefaultRoot.
	EnvPluginDir = "RETOOL_PLUGIN_DIR"
	// DefaultMaxBytes caps what one install may download or extract (1 GiB).
	DefaultMaxBytes int64 = 1 << 30
	// BinaryPrefix starts the file name of every plugin binary: retool-runtime-NAME.
	BinaryPrefix = "retool-runtime-"
	// SumsFile is the checksum file name, in sha256sum format ("<hex>  <filename>").
	SumsFile = "SHA256SUMS"

	manifestFile = "manifest.json"
	currentFile  = "current"
	stagePrefix  = ".install-"
	trashPrefix  = ".remove-"
)

// DefaultRoot returns $RETOOL_PLUGIN_DIR (made absolute) if set, else os.UserConfigDir()/retool/plugins.
func DefaultRoot() (string, error) {
	if v := os.Getenv(EnvPluginDir); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return "", fmt.Errorf("plugin directory %s=%q: %w", EnvPluginDir, v, err)
		}
		return abs, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("plugin directory: set %s or HOME: %w", EnvPluginDir, err)
	}
	return filepath.Join(cfg, "retool", "plugins"), nil
}

// BinaryName returns the file name of the binary of plugin name: retool-runtime-NAME.
func BinaryName(name string) string { return BinaryPrefix + name }

func (d *Dir) root() (string, error) {
	if d == nil || d.Root == "" {
		return "", errors.New("plugin directory not set (Dir.Root is empty)")
	}
	return filepath.Abs(d.Root)
}

func (d *Dir) maxBytes() int64 {
	if d.MaxBytes > 0 {
		return d.MaxBytes
	}
	return DefaultMaxBytes
}

// Install installs the plugin found at source, which is one of
//
//   - a path to an executable plugin binary (ideally named retool-runtime-NAME);
//   - a directory holding exactly one retool-runtime-* executable and optionally SHA256SUMS,
//     which must then list and match the binary;
//   - a .tar.gz/.tgz release holding exactly one retool-runtime-* binary and, in the same
//     directory, a SHA256SUMS that lists and matches it (required);
//   - an http(s) URL of such a release, or of a bare retool-runtime-* binary; for a bare binary
//     the checksum is fetched from URL+".sha256" and, if that is 404/410, from SHA256SUMS in the
//     same URL directory; one of them must exist, list the binary and match.
//
// Everything is staged in a temporary directory inside Root, the staged binary is probed, its
// name, version and protocol are checked, as are clashes with installed plugins, and only then is
// the plugin renamed into place. On any failure nothing is left behind. The recorded name is the
// one the plugin reports.
func (d *Dir) Install(ctx context.Context, source string, opts Options) (_ *Manifest, err error) {
	shown := displaySource(source)
	defer func() {
		if err != nil {
			err = &installError{source: shown, err: err}
		}
	}()
	root, err := d.root()
	if err != nil {
		return nil, err
	}
	if d.Probe == nil {
		return nil, errors.New("no plugin prober configured (Dir.Probe is nil)")
	}
	if d.ProtocolVersion <= 0 {
		return nil, errors.New("retool protocol version not configured (Dir.ProtocolVersion is 0)")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create plugin directory: %w", err)
	}
	unlock, err := lockRoot(ctx, root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cleanStale(root)

	stage, err := os.MkdirTemp(root, stagePrefix)
	if err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(stage)

	cand, err := d.stageSource(ctx, source, stage, opts)
	if err != nil {
		return nil, err
	}
	sum, err := hashFile(cand.path)
	if err != nil {
		return nil, err
	}
	if cand.want != "" && !strings.EqualFold(sum, cand.want) {
		return nil, newError(ErrChecksumMismatch, nil, "checksum mismatch for %s: %s says %s, file is %s",
			cand.file, cand.sumsFrom, strings.ToLower(cand.want), sum)
	}
	if err := os.Chmod(cand.path, 0o755); err != nil {
		return nil, err
	}

	info, err := d.Probe.Probe(ctx, cand.path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, newError(ErrNotAPlugin, err, "%s is not a retool plugin: probe failed: %v", cand.file, err)
	}
	if err := d.checkInfo(cand.file, info); err != nil {
		return nil, err
	}
	if err := checkClash(root, info, opts.Force); err != nil {
		return nil, err
	}

	m := &Manifest{
		Name:            info.Name,
		Version:         info.Version,
		Languages:       slices.Clone(info.Languages),
		Capabilities:    slices.Clone(info.Capabilities),
		ProtocolVersion: info.ProtocolVersion,
		Binary:          filepath.Join(root, info.Name, info.Version, BinaryName(info.Name)),
		SHA256:          sum,
		Source:          shown,
		InstalledAt:     time.Now().UTC(),
	}
	pkg := filepath.Join(stage, "pkg")
	if err := buildPluginDir(pkg, cand.path, m); err != nil {
		return nil, err
	}
	if err := commit(root, stage, pkg, info.Name); err != nil {
		return nil, err
	}
	return m, nil
}

// installError prefixes "install SOURCE: " and keeps the cause reachable.
type installError struct {
	source string
	err    error
}

func (e *installError) Error() string { return "install " + e.source + ": " + e.err.Error() }
func (e *installError) Unwrap() error { return e.err }

func (d *Dir) checkInfo(file string, info Info) error {
	if info.ProtocolVersion != d.ProtocolVersion {
		return newError(ErrProtocolMismatch, nil, "plugin %s %s (%s) speaks plugin protocol %d, this retool speaks %d",
			info.Name, info.Version, file, info.ProtocolVersion, d.ProtocolVersion)
	}
	if err := ValidateName(info.Name); err != nil {
		return newError(ErrNotAPlugin, nil, "%s reports an invalid plugin name: %v", file, err)
	}
	if err := validateVersion(info.Version); err != nil {
		return newError(ErrNotAPlugin, nil, "%s (plugin %s) reports an invalid version: %v", file, info.Name, err)
	}
	return nil
}

// checkClash refuses a same-name plugin (unless force) and a language already served by another plugin.
func checkClash(root string, info Info, force bool) error {
	pdir := filepath.Join(root, info.Name)
	if _, err := os.Lstat(pdir); err == nil && !force {
		old, gerr := readInstalled(root, info.Name)
		if gerr != nil {
			return newError(ErrAlreadyInstalled, gerr, "plugin %s: a damaged installation exists (%v); use --force to replace it", info.Name, gerr)
		}
		return newError(ErrAlreadyInstalled, nil, "plugin %s %s is already installed (from %s); use --force to replace it with %s",
			info.Name, old.Version, old.Source, info.Version)
	}
	others, _ := scan(root) // damaged entries cannot serve a language; ignore them here
	for _, o := range others {
		if o.Name == info.Name {
			continue
		}
		for _, lang := range info.Languages {
			if slices.ContainsFunc(o.Languages, func(l string) bool { return strings.EqualFold(l, lang) }) {
				return newError(ErrLanguageConflict, nil, "plugin %s %s provides language %q, which plugin %s %s already provides; remove %s first",
					info.Name, info.Version, lang, o.Name, o.Version, o.Name)
			}
		}
	}
	return nil
}

// buildPluginDir lays out pkg/VERSION/{binary,manifest.json} and pkg/current, moving the staged binary in.
func buildPluginDir(pkg, binary string, m *Manifest) error {
	vdir := filepath.Join(pkg, m.Version)
	for _, dir := range []string{pkg, vdir} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o755); err != nil { // exact mode regardless of umask
			return err
		}
	}
	if err := os.Rename(binary, filepath.Join(vdir, BinaryName(m.Name))); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(vdir, manifestFile), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(pkg, currentFile), []byte(m.Version+"\n"), 0o644); err != nil {
		return err
	}
	syncDir(vdir)
	syncDir(pkg)
	return nil
}

// commit renames the fully built pkg dir to Root/NAME. An existing Root/NAME (allowed only with
// Force, already checked) is first moved into the stage, which the caller deletes; if the final
// rename fails the old directory is put back.
func commit(root, stage, pkg, name string) error {
	dst := filepath.Join(root, name)
	old := ""
	if _, err := os.Lstat(dst); err == nil {
		old = filepath.Join(stage, "old")
		if err := os.Rename(dst, old); err != nil {
			return fmt.Errorf("move aside installed plugin %s: %w", name, err)
		}
	}
	if err := os.Rename(pkg, dst); err != nil {
		if old != "" {
			if rerr := os.Rename(old, dst); rerr != nil {
				return fmt.Errorf("put plugin %s in place: %w (restoring the previous install also failed: %v)", name, err, rerr)
			}
		}
		return fmt.Errorf("put plugin %s in place: %w", name, err)
	}
	syncDir(root)
	return nil
}

// cleanStale removes staging/trash dirs left by a crashed install or removal. Only safe while
// holding a lock that excludes other processes.
func cleanStale(root string) {
	if !crossProcessLock {
		return
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, stagePrefix) || strings.HasPrefix(n, trashPrefix) {
			_ = os.RemoveAll(filepath.Join(root, n))
		}
	}
}

// writeFile creates path (which must not exist), writes data, syncs and sets the exact mode.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// syncDir flushes a directory entry change; best effort.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}
