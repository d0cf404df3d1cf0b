package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]*$`)
)

const maxNameLen = 64

// ValidateName reports whether name is a valid plugin name: [a-z0-9][a-z0-9_-]*, at most 64 bytes.
func ValidateName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("name %.20q… is longer than %d characters", name, maxNameLen)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q must match [a-z0-9][a-z0-9_-]*", name)
	}
	return nil
}

func validateVersion(v string) error {
	if len(v) > maxNameLen || !versionRE.MatchString(v) || v == currentFile {
		return fmt.Errorf("version %q must match [0-9A-Za-z][0-9A-Za-z._+-]* (at most %d characters)", v, maxNameLen)
	}
	return nil
}

// List returns the installed plugins sorted by name. A missing Root is an empty list. A damaged
// plugin directory makes List fail with ErrCorrupt (Remove it and reinstall).
func (d *Dir) List() ([]Manifest, error) {
	root, err := d.root()
	if err != nil {
		return nil, err
	}
	ms, errs := scan(root)
	if len(errs) > 0 {
		return nil, fmt.Errorf("list plugins in %s: %w", root, errs[0])
	}
	return ms, nil
}

// ListUsable is List for callers that can go on without damaged plugins
// (routing executions, say): the readable manifests, and one error per
// damaged plugin for the caller to report.
func (d *Dir) ListUsable() ([]Manifest, []error) {
	root, err := d.root()
	if err != nil {
		return nil, []error{err}
	}
	return scan(root)
}

// scan reads every plugin directory under root, returning the readable manifests (sorted by name)
// and the errors of the damaged ones.
func scan(root string) ([]Manifest, []error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var ms []Manifest
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil { // .lock, .install-*, stray files
			continue
		}
		m, err := readInstalled(root, e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, *m)
	}
	slices.SortFunc(ms, func(a, b Manifest) int { return strings.Compare(a.Name, b.Name) })
	return ms, errs
}

// Get returns the manifest of the active version of plugin name; ErrNotInstalled (wrapped) if absent.
func (d *Dir) Get(name string) (*Manifest, error) {
	root, err := d.root()
	if err != nil {
		return nil, err
	}
	if err := ValidateName(name); err != nil {
		return nil, newError(ErrNotInstalled, nil, "plugin %q is not installed: invalid %v", name, err)
	}
	return readInstalled(root, name)
}

func readInstalled(root, name string) (*Manifest, error) {
	pdir := filepath.Join(root, name)
	fi, err := os.Lstat(pdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newError(ErrNotInstalled, nil, "plugin %s is not installed (in %s)", name, root)
	}
	if err != nil {
		return nil, err
	}
	damaged := func(cause error, format string, args ...any) error {
		return newError(ErrCorrupt, cause, "plugin %s is damaged: %s; remove and reinstall it", name, fmt.Sprintf(format, args...))
	}
	if !fi.IsDir() {
		return nil, damaged(nil, "%s is not a directory", pdir)
	}
	cur, err := os.ReadFile(filepath.Join(pdir, currentFile))
	if err != nil {
		return nil, damaged(err, "%v", err)
	}
	version := strings.TrimSpace(string(cur))
	if err := validateVersion(version); err != nil {
		return nil, damaged(err, "%s: %v", filepath.Join(pdir, currentFile), err)
	}
	mpath := filepath.Join(pdir, version, manifestFile)
	data, err := os.ReadFile(mpath)
	if err != nil {
		return nil, damaged(err, "%v", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, damaged(err, "%s: %v", mpath, err)
	}
	if m.Name != name || m.Version != version {
		return nil, damaged(nil, "%s describes %s %s, expected %s %s", mpath, m.Name, m.Version, name, version)
	}
	return &m, nil
}

// Remove deletes plugin name (its whole directory, every version); ErrNotInstalled if absent.
func (d *Dir) Remove(name string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("remove plugin %s: %w", name, err)
		}
	}()
	root, err := d.root()
	if err != nil {
		return err
	}
	if err := ValidateName(name); err != nil {
		return newError(ErrNotInstalled, nil, "not installed: invalid %v", err)
	}
	pdir := filepath.Join(root, name)
	notInstalled := newError(ErrNotInstalled, nil, "not installed (in %s)", root)
	if _, err := os.Lstat(pdir); errors.Is(err, fs.ErrNotExist) {
		return notInstalled
	}
	unlock, err := lockRoot(context.Background(), root)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(pdir); errors.Is(err, fs.ErrNotExist) { // removed meanwhile
		return notInstalled
	}
	// Rename first so the plugin disappears at once, then delete at leisure.
	trash, err := os.MkdirTemp(root, trashPrefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(pdir, filepath.Join(trash, name)); err != nil {
		return err
	}
	syncDir(root)
	return nil
}

// Verify re-hashes m's binary and returns ErrChecksumMismatch (wrapped) if it changed since install.
func (d *Dir) Verify(m *Manifest) error {
	if m == nil {
		return errors.New("verify plugin: nil manifest")
	}
	fi, err := os.Stat(m.Binary)
	if err != nil {
		return fmt.Errorf("verify plugin %s %s: %w", m.Name, m.Version, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("verify plugin %s %s: %s is not a regular file", m.Name, m.Version, m.Binary)
	}
	sum, err := hashFile(m.Binary)
	if err != nil {
		return fmt.Errorf("verify plugin %s %s: %w", m.Name, m.Version, err)
	}
	if !strings.EqualFold(sum, m.SHA256) {
		return newError(ErrChecksumMismatch, nil, "verify plugin %s %s: checksum mismatch for %s: manifest says %s, file is %s",
			m.Name, m.Version, m.Binary, m.SHA256, sum)
	}
	return nil
}
