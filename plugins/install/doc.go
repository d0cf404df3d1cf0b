// Package install manages the retool plugin directory: it installs runtime plugin binaries from a
// file, a directory, a .tar.gz release or an http(s) URL, verifying SHA-256 sums and probing each
// binary before it is accepted, and lists, gets, verifies and removes installed plugins.
// It does not run plugins (the Prober, implemented elsewhere, does) nor resolve versions from a registry.
package install
