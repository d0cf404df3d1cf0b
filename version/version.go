// Package version holds retool's version, set at build time with
// -ldflags "-X github.com/retool-rl/retool/version.Version=...".
package version

// Version of retool and of its built-in runtime plugins.
var Version = "0.1.0-dev"
