package install

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by this package that belongs to one of these classes
// wraps the sentinel, so callers can test with errors.Is.
var (
	// ErrNotInstalled: no plugin of that name is installed.
	ErrNotInstalled = errors.New("plugin not installed")
	// ErrAlreadyInstalled: a plugin of the same name is installed and Options.Force was not set.
	ErrAlreadyInstalled = errors.New("plugin already installed")
	// ErrLanguageConflict: another installed plugin already provides one of the plugin's languages.
	ErrLanguageConflict = errors.New("language provided by another plugin")
	// ErrChecksumMismatch: a binary does not hash to the published or recorded SHA-256.
	ErrChecksumMismatch = errors.New("checksum mismatch")
	// ErrNotAPlugin: the binary could not be probed, or reported unusable information.
	ErrNotAPlugin = errors.New("not a retool plugin")
	// ErrProtocolMismatch: the plugin speaks another plugin protocol version than this retool.
	ErrProtocolMismatch = errors.New("plugin protocol mismatch")
	// ErrBadSource: the install source is unusable (missing, malformed, unsafe, unverifiable, HTTP error).
	ErrBadSource = errors.New("bad plugin source")
	// ErrCorrupt: an installed plugin's directory is damaged (missing or inconsistent current/manifest).
	ErrCorrupt = errors.New("plugin directory damaged")
)

// kindError carries a user-facing one-line message while still matching its sentinel (and an
// optional underlying cause) with errors.Is / errors.As.
type kindError struct {
	kind  error
	cause error
	msg   string
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// newError builds a one-line error of the given kind; cause (may be nil) stays reachable by errors.Is.
func newError(kind, cause error, format string, args ...any) error {
	return &kindError{kind: kind, cause: cause, msg: oneLine(fmt.Sprintf(format, args...))}
}

// oneLine folds a possibly multi-line message (e.g. a plugin's stderr) into a single line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
