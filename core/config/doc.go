// Package config decodes retool.hcl (hashicorp/hcl/v2) over the embedded
// defaults, validates every value with its file:line:col, and overlays
// RETOOL_* environment variables and bound flags through viper
// (flags > env > file > defaults).
package config
