package sdk

import (
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// exitWithParent closes rt (its workers, cgroups and temp dirs) and exits
// when retool is gone: on SIGTERM, which retool's parent-death signal
// sends, or when the plugin finds itself re-parented.
func exitWithParent(rt Runtime, log hclog.Logger) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	parent := os.Getppid()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-term:
		case <-tick.C:
			if os.Getppid() == parent {
				continue
			}
		}
		log.Info("retool is gone; stopping the runtime")
		if c, ok := rt.(io.Closer); ok {
			_ = c.Close()
		}
		os.Exit(0)
	}
}

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
	// retool reads this process's stderr through a pipe; once retool has
	// died, a log line would raise SIGPIPE, which kills a Go program
	// writing to fd 2 unless it is notified: the plugin would then die
	// before removing its workers' cgroups and temp dirs. Notified, the
	// write just fails. (A handler, unlike SIG_IGN, is not inherited by
	// the programs the sandbox starts.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr, JSONFormat: true})
	if w, ok := rt.(*WarmRuntime); ok && w.Logger == nil {
		w.Logger = log
	}
	go exitWithParent(rt, log)
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
