package sdk

import (
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Serve runs rt as a plugin; call it from main. It returns when retool
// stops the plugin, after closing rt if it is an io.Closer.
func Serve(rt Runtime) {
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr, JSONFormat: true})
	if w, ok := rt.(*WarmRuntime); ok && w.Logger == nil {
		w.Logger = log
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &RuntimePlugin{Impl: rt}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          log,
	})
	if c, ok := rt.(io.Closer); ok {
		_ = c.Close()
	}
}
