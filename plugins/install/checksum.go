package install

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// maxSumsBytes caps a SHA256SUMS or .sha256 file.
const maxSumsBytes = 1 << 20

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type sumEntry struct {
	hash string // as written (validated when looked up)
	name string // "" for a bare-hash .sha256 file
}

// parseSums reads sha256sum output: "<hex>  <name>" or "<hex> *<name>" per line; a line with a
// lone hex (common in .sha256 files) has no name. Blank and '#' lines are skipped.
func parseSums(data []byte) []sumEntry {
	var out []sumEntry
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			out = append(out, sumEntry{hash: line})
			continue
		}
		name := strings.TrimLeft(line[i:], " \t")
		name = strings.TrimPrefix(name, "*")
		out = append(out, sumEntry{hash: line[:i], name: name})
	}
	return out
}

// lookupSum finds the hash for file (a base name) in sums read from `from` (used in messages).
// Entries may carry a directory ("dist/retool-runtime-js"); only the base name is compared.
// If allowBare, a file whose single entry has no name applies to file.
func lookupSum(data []byte, file, from string, allowBare bool) (string, error) {
	entries := parseSums(data)
	if allowBare && len(entries) == 1 && entries[0].name == "" {
		return checkHex(entries[0].hash, file, from)
	}
	found := ""
	for _, e := range entries {
		if e.name == "" || path.Base(path.Clean(e.name)) != file {
			continue
		}
		h, err := checkHex(e.hash, file, from)
		if err != nil {
			return "", err
		}
		if found != "" && found != h {
			return "", newError(ErrBadSource, nil, "%s lists %s twice with different hashes", from, file)
		}
		found = h
	}
	if found == "" {
		return "", newError(ErrBadSource, nil, "%s has no line for %s; refusing to install an unverified binary", from, file)
	}
	return found, nil
}

func checkHex(h, file, from string) (string, error) {
	if len(h) != sha256.Size*2 {
		return "", newError(ErrBadSource, nil, "%s: malformed SHA-256 %q for %s", from, h, file)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", newError(ErrBadSource, nil, "%s: malformed SHA-256 %q for %s", from, h, file)
	}
	return strings.ToLower(h), nil
}

// readSmall reads a checksum file, refusing anything over maxSumsBytes.
func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSumsBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSumsBytes {
		return nil, newError(ErrBadSource, nil, "%s is larger than %d bytes", p, maxSumsBytes)
	}
	return data, nil
}
