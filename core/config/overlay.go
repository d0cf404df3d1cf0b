package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/viper"
)

// overlayKeys are the viper keys Overlay applies, each read from RETOOL_<KEY>
// (dots become underscores) or from a flag the caller bound to the key.
var overlayKeys = []struct {
	key   string
	apply func(c *Config, raw string, o origin) *hcl.Diagnostic
}{
	{"plugin_dir", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.PluginDir = raw
		c.setOrigin("plugin_dir", o)
		return nil
	}},
	{"log_level", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.LogLevel = raw
		c.setOrigin("log_level", o)
		return nil
	}},
	{"sandbox.backend", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.Sandbox.Backend = raw
		c.setOrigin("sandbox.backend", o)
		return nil
	}},
	{"sandbox.containerd.socket", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.Sandbox.Containerd.Socket = raw
		c.setOrigin("sandbox.containerd.socket", o)
		return nil
	}},
	{"sandbox.containerd.runtime", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.Sandbox.Containerd.Runtime = raw
		c.setOrigin("sandbox.containerd.runtime", o)
		return nil
	}},
	{"sandbox.containerd.image", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.Sandbox.Containerd.Image = raw
		c.setOrigin("sandbox.containerd.image", o)
		return nil
	}},
	{"server.addr", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.Server.Addr = raw
		c.setOrigin("server.addr", o)
		return nil
	}},
	{"server.token", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		c.Server.Token = raw
		c.setOrigin("server.token", o)
		return nil
	}},
	{"pool_size", func(c *Config, raw string, o origin) *hcl.Diagnostic {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid pool_size",
				Detail:   fmt.Sprintf("%q is not a whole number; expected 0 to %d warm workers per runtime.", raw, MaxPoolSize),
				Extra:    originLabel(o.label),
			}
		}
		for i := range c.Runtimes {
			c.Runtimes[i].PoolSize = n
			c.setOrigin("runtime."+c.Runtimes[i].Name+".pool_size", o)
		}
		return nil
	}},
}

// Overlay applies RETOOL_* environment variables and the flags bound to v
// over c, then validates c again. It configures v for the environment
// (prefix RETOOL, "." → "_", AutomaticEnv) and applies a key only when
// v.IsSet(key), so viper's precedence holds: flags > env > file > defaults.
//
// Keys: plugin_dir, log_level, sandbox.backend, server.addr, server.token
// and pool_size (which applies to every runtime). A non-nil error is an
// *Error whose lines name the variable or flag that set the bad value.
func (c *Config) Overlay(v *viper.Viper) error {
	v.SetEnvPrefix("RETOOL")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	var diags hcl.Diagnostics
	for _, k := range overlayKeys {
		if !v.IsSet(k.key) {
			continue
		}
		raw := v.GetString(k.key)
		if d := k.apply(c, raw, overlayOrigin(k.key, raw)); d != nil {
			diags = append(diags, d)
		}
	}
	diags = append(diags, c.validate()...)
	if diags.HasErrors() {
		return newError(diags)
	}
	return nil
}

// overlayOrigin names where viper found key's value: the environment
// variable when it holds that value, else a flag (or a viper override).
func overlayOrigin(key, raw string) origin {
	env := EnvVar(key)
	if val, ok := os.LookupEnv(env); ok && val == raw {
		return origin{label: env + " (environment)"}
	}
	return origin{label: fmt.Sprintf("%s (flag)", key)}
}

// EnvVar is the environment variable Overlay reads for a viper key, e.g.
// "sandbox.backend" → "RETOOL_SANDBOX_BACKEND".
func EnvVar(key string) string {
	return "RETOOL_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}
