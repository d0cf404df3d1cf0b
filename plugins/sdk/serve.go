package sdk

import (
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// MaxMessageBytes bounds one gRPC message between retool and a plugin:
// room for the largest code, files and output a request may carry (gRPC's
// own default, 4 MiB, would refuse a 10 MB program).
const MaxMessageBytes = 512 << 20

// DialOptions are the client side of the same limits.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}
}

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
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts,
				grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes)))
		},
		Logger: log,
	})
	if c, ok := rt.(io.Closer); ok {
		_ = c.Close()
	}
}
