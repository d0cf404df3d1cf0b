package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/retool-rl/retool/core/execution"
	pb "github.com/retool-rl/retool/plugins/proto"
)

// RuntimePlugin is the go-plugin glue: a server adapter in the plugin, a
// client adapter in retool. Nothing else lives here.
type RuntimePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Runtime
}

var _ plugin.GRPCPlugin = (*RuntimePlugin)(nil)

func (p *RuntimePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterRuntimeServer(s, &grpcServer{impl: p.Impl})
	return nil
}

func (p *RuntimePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &grpcClient{c: pb.NewRuntimeClient(c)}, nil
}

// toStatus carries error classes across the wire.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSessionsNotSupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, execution.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrUnknownSession):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch s.Code() {
	case codes.Unimplemented:
		return ErrSessionsNotSupported
	case codes.InvalidArgument:
		return invalidError(s.Message())
	case codes.NotFound:
		return ErrUnknownSession
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	return errors.New(s.Message())
}

// invalidError is a refusal from the plugin; it keeps its own words and
// still matches execution.ErrInvalid.
type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == execution.ErrInvalid }

// ErrUnknownSession is returned for a session id that is not open.
var ErrUnknownSession = errors.New("unknown session")

type grpcServer struct {
	pb.UnimplementedRuntimeServer
	impl Runtime
}

func (s *grpcServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InfoResponse{Name: info.Name, Version: info.Version, Languages: info.Languages,
		Capabilities: info.Capabilities, ProtocolVersion: ProtocolVersion}, nil
}

func (s *grpcServer) Configure(ctx context.Context, r *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	set := Settings{PoolSize: int(r.PoolSize), DefaultLimits: limitsFromProto(r.DefaultLimits), Values: r.Settings}
	if sb := r.Sandbox; sb != nil {
		set.Sandbox = SandboxSettings{Backend: sb.Backend, WorkDirBytes: sb.WorkDirBytes,
			ReadOnlyPaths: sb.ReadOnlyPaths, AllowNetwork: sb.AllowNetwork}
		if c := sb.Containerd; c != nil {
			set.Sandbox.Containerd = ContainerdSettings{Socket: c.Socket, Namespace: c.Namespace,
				Runtime: c.Runtime, Image: c.Image, Snapshotter: c.Snapshotter, StateDir: c.StateDir}
		}
	}
	return &pb.ConfigureResponse{}, toStatus(s.impl.Configure(ctx, set))
}

func (s *grpcServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	h, err := s.impl.Health(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.HealthResponse{Ready: h.Ready, Message: h.Message, WorkersReady: int32(h.WorkersReady),
		WorkersTotal: int32(h.WorkersTotal), Restarts: h.Restarts, Degraded: h.Degraded}, nil
}

func (s *grpcServer) Execute(ctx context.Context, r *pb.ExecuteRequest) (*pb.ExecuteResponse, error) {
	res, err := s.impl.Execute(ctx, requestFromProto(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return resultToProto(res), nil
}

func (s *grpcServer) OpenSession(ctx context.Context, r *pb.OpenSessionRequest) (*pb.OpenSessionResponse, error) {
	id, err := s.impl.OpenSession(ctx, r.Language, limitsFromProto(r.Limits))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OpenSessionResponse{SessionId: id}, nil
}

func (s *grpcServer) ExecuteInSession(ctx context.Context, r *pb.ExecuteInSessionRequest) (*pb.ExecuteResponse, error) {
	if r.Request == nil {
		return nil, status.Error(codes.InvalidArgument, "missing request")
	}
	res, err := s.impl.ExecuteInSession(ctx, r.SessionId, requestFromProto(r.Request))
	if err != nil {
		return nil, toStatus(err)
	}
	return resultToProto(res), nil
}

func (s *grpcServer) CloseSession(ctx context.Context, r *pb.CloseSessionRequest) (*pb.CloseSessionResponse, error) {
	return &pb.CloseSessionResponse{}, toStatus(s.impl.CloseSession(ctx, r.SessionId))
}

type grpcClient struct{ c pb.RuntimeClient }

var _ Runtime = (*grpcClient)(nil)

func (c *grpcClient) Info(ctx context.Context) (Info, error) {
	r, err := c.c.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, fromStatus(err)
	}
	return Info{Name: r.Name, Version: r.Version, Languages: r.Languages, Capabilities: r.Capabilities,
		ProtocolVersion: int(r.ProtocolVersion)}, nil
}

func (c *grpcClient) Configure(ctx context.Context, s Settings) error {
	ct := s.Sandbox.Containerd
	_, err := c.c.Configure(ctx, &pb.ConfigureRequest{
		PoolSize: int32(s.PoolSize), DefaultLimits: limitsToProto(s.DefaultLimits), Settings: s.Values,
		Sandbox: &pb.SandboxConfig{Backend: s.Sandbox.Backend, WorkDirBytes: s.Sandbox.WorkDirBytes,
			ReadOnlyPaths: s.Sandbox.ReadOnlyPaths, AllowNetwork: s.Sandbox.AllowNetwork,
			Containerd: &pb.ContainerdConfig{Socket: ct.Socket, Namespace: ct.Namespace, Runtime: ct.Runtime,
				Image: ct.Image, Snapshotter: ct.Snapshotter, StateDir: ct.StateDir}},
	})
	return fromStatus(err)
}

func (c *grpcClient) Health(ctx context.Context) (Health, error) {
	r, err := c.c.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return Health{}, fromStatus(err)
	}
	return Health{Ready: r.Ready, Message: r.Message, WorkersReady: int(r.WorkersReady),
		WorkersTotal: int(r.WorkersTotal), Restarts: r.Restarts, Degraded: r.Degraded}, nil
}

func (c *grpcClient) Execute(ctx context.Context, req *execution.Request) (execution.Result, error) {
	r, err := c.c.Execute(ctx, requestToProto(req))
	if err != nil {
		return execution.Result{}, fromStatus(err)
	}
	return resultFromProto(r), nil
}

func (c *grpcClient) OpenSession(ctx context.Context, language string, limits execution.Limits) (string, error) {
	r, err := c.c.OpenSession(ctx, &pb.OpenSessionRequest{Language: language, Limits: limitsToProto(limits)})
	if err != nil {
		return "", fromStatus(err)
	}
	return r.SessionId, nil
}

func (c *grpcClient) ExecuteInSession(ctx context.Context, session string, req *execution.Request) (execution.Result, error) {
	r, err := c.c.ExecuteInSession(ctx, &pb.ExecuteInSessionRequest{SessionId: session, Request: requestToProto(req)})
	if err != nil {
		return execution.Result{}, fromStatus(err)
	}
	return resultFromProto(r), nil
}

func (c *grpcClient) CloseSession(ctx context.Context, session string) error {
	_, err := c.c.CloseSession(ctx, &pb.CloseSessionRequest{SessionId: session})
	return fromStatus(err)
}
