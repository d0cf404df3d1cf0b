package sdk

import (
	"time"

	"github.com/retool-rl/retool/core/execution"
	pb "github.com/retool-rl/retool/plugins/proto"
)

func limitsToProto(l execution.Limits) *pb.Limits {
	return &pb.Limits{
		WallTimeMs: l.WallTime.Milliseconds(), CpuTimeMs: l.CPUTime.Milliseconds(),
		MemoryBytes: l.MemoryBytes, Pids: int32(l.Pids), OutputBytes: l.OutputBytes,
		FileSizeBytes: l.FileSizeBytes, OpenFiles: int32(l.OpenFiles),
	}
}

func limitsFromProto(l *pb.Limits) execution.Limits {
	if l == nil {
		return execution.Limits{}
	}
	return execution.Limits{
		WallTime: time.Duration(l.WallTimeMs) * time.Millisecond, CPUTime: time.Duration(l.CpuTimeMs) * time.Millisecond,
		MemoryBytes: l.MemoryBytes, Pids: int(l.Pids), OutputBytes: l.OutputBytes,
		FileSizeBytes: l.FileSizeBytes, OpenFiles: int(l.OpenFiles),
	}
}

func filesToProto(fs []execution.File) []*pb.File {
	out := make([]*pb.File, len(fs))
	for i, f := range fs {
		out[i] = &pb.File{Path: f.Path, Content: f.Content}
	}
	return out
}

func filesFromProto(fs []*pb.File) []execution.File {
	out := make([]execution.File, len(fs))
	for i, f := range fs {
		out[i] = execution.File{Path: f.Path, Content: f.Content}
	}
	return out
}

func requestToProto(r *execution.Request) *pb.ExecuteRequest {
	return &pb.ExecuteRequest{
		Language: r.Language, Code: r.Code, Stdin: r.Stdin, Files: filesToProto(r.Files),
		FetchFiles: r.FetchFiles, Limits: limitsToProto(r.Limits), DisplayLastValue: r.DisplayLast,
	}
}

func requestFromProto(r *pb.ExecuteRequest) *execution.Request {
	return &execution.Request{
		Language: r.Language, Code: r.Code, Stdin: r.Stdin, Files: filesFromProto(r.Files),
		FetchFiles: r.FetchFiles, Limits: limitsFromProto(r.Limits), DisplayLast: r.DisplayLastValue,
	}
}

func resultToProto(r execution.Result) *pb.ExecuteResponse {
	return &pb.ExecuteResponse{
		Status: pb.Status(r.Status), ExitCode: int32(r.ExitCode), Signal: int32(r.Signal),
		Stdout: r.Stdout, Stderr: r.Stderr, WallTimeUs: r.WallTime.Microseconds(), CpuTimeUs: r.CPUTime.Microseconds(),
		PeakMemoryBytes: r.PeakMemory, StdoutTruncated: r.StdoutTruncated, StderrTruncated: r.StderrTruncated,
		Files: filesToProto(r.Files), Message: r.Message, Degraded: r.Degraded, Display: r.Display,
	}
}

func resultFromProto(r *pb.ExecuteResponse) execution.Result {
	return execution.Result{
		Status: execution.Status(r.Status), ExitCode: int(r.ExitCode), Signal: int(r.Signal),
		Stdout: r.Stdout, Stderr: r.Stderr, WallTime: time.Duration(r.WallTimeUs) * time.Microsecond,
		CPUTime: time.Duration(r.CpuTimeUs) * time.Microsecond, PeakMemory: r.PeakMemoryBytes,
		StdoutTruncated: r.StdoutTruncated, StderrTruncated: r.StderrTruncated,
		Files: filesFromProto(r.Files), Message: r.Message, Degraded: r.Degraded, Display: r.Display,
	}
}
