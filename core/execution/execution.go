package execution

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Status says how an execution ended.
type Status int

const (
	StatusUnspecified Status = iota
	// Finished: the code ran to completion with exit code 0.
	Finished
	// Failed: non-zero exit or a signal of the code's own making.
	Failed
	// Timeout: wall-clock or CPU time limit reached.
	Timeout
	// Memory: the memory limit was reached.
	Memory
	// OutputLimit: the output cap was reached; what came before is kept.
	OutputLimit
	// SandboxError: the sandbox or the worker failed.
	SandboxError
)

var statusNames = [...]string{"unspecified", "finished", "failed", "timeout", "memory", "output-limit", "sandbox-error"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames {
		if n == s {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("unknown status %q", s)
}

// Limits bound one execution. Zero means "the runtime's default".
type Limits struct {
	WallTime      time.Duration
	CPUTime       time.Duration
	MemoryBytes   int64
	Pids          int
	OutputBytes   int64
	FileSizeBytes int64
	OpenFiles     int
}

// Ceilings no request may exceed, whatever the configuration says.
const (
	MaxWallTime   = time.Hour
	MaxMemory     = 64 << 30
	MaxPids       = 4096
	MaxOutput     = 256 << 20
	MaxFileSize   = 4 << 30
	MaxOpenFiles  = 65536
	MaxCodeBytes  = 16 << 20
	MaxFilesBytes = 64 << 20
	// MinMemory: below this a fork of a warm interpreter cannot run at all,
	// and the worker itself would be the one killed.
	MinMemory = 32 << 20
)

// Validate refuses negative and absurd values with one clear line.
func (l Limits) Validate() error {
	check := func(name string, v, max int64) error {
		if v < 0 {
			return fmt.Errorf("limit %s is negative (%d)", name, v)
		}
		if v > max {
			return fmt.Errorf("limit %s %d exceeds the maximum %d", name, v, max)
		}
		return nil
	}
	atLeast := func(name string, v, min time.Duration) error {
		if v > 0 && v < min {
			return fmt.Errorf("limit %s %s is below the minimum %s", name, v, min)
		}
		return nil
	}
	return errors.Join(
		atLeast("wall_time", l.WallTime, time.Millisecond),
		atLeast("cpu_time", l.CPUTime, time.Millisecond),
		func() error {
			if l.MemoryBytes > 0 && l.MemoryBytes < MinMemory {
				return fmt.Errorf("limit memory_bytes %d is below the minimum %d (32 MiB)", l.MemoryBytes, int64(MinMemory))
			}
			return nil
		}(),
		check("wall_time_ms", l.WallTime.Milliseconds(), MaxWallTime.Milliseconds()),
		check("cpu_time_ms", l.CPUTime.Milliseconds(), MaxWallTime.Milliseconds()),
		check("memory_bytes", l.MemoryBytes, MaxMemory),
		check("pids", int64(l.Pids), MaxPids),
		check("output_bytes", l.OutputBytes, MaxOutput),
		check("file_size_bytes", l.FileSizeBytes, MaxFileSize),
		check("open_files", int64(l.OpenFiles), MaxOpenFiles),
	)
}

// WithDefaults fills zero fields from d.
func (l Limits) WithDefaults(d Limits) Limits {
	if l.WallTime == 0 {
		l.WallTime = d.WallTime
	}
	if l.CPUTime == 0 {
		l.CPUTime = d.CPUTime
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.Pids == 0 {
		l.Pids = d.Pids
	}
	if l.OutputBytes == 0 {
		l.OutputBytes = d.OutputBytes
	}
	if l.FileSizeBytes == 0 {
		l.FileSizeBytes = d.FileSizeBytes
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = d.OpenFiles
	}
	return l
}

// DefaultLimits are used where neither the request nor the configuration
// says otherwise.
var DefaultLimits = Limits{
	WallTime:      10 * time.Second,
	CPUTime:       10 * time.Second,
	MemoryBytes:   512 << 20,
	Pids:          64,
	OutputBytes:   1 << 20,
	FileSizeBytes: 16 << 20,
	OpenFiles:     256,
}

// File is a file placed in, or fetched from, the execution's work dir.
type File struct {
	Path    string
	Content []byte
}

// Request is one execution.
type Request struct {
	Language   string
	Code       string
	Stdin      []byte
	Files      []File
	FetchFiles []string
	Limits     Limits
	// DisplayLast returns a bare last expression's value in
	// Result.Display instead of printing it (sessions only, as a notebook).
	DisplayLast bool
}

// ErrInvalid marks a request refused before it ran.
var ErrInvalid = errors.New("invalid request")

// Validate checks what can be checked without running anything.
func (r *Request) Validate() error {
	var errs []error
	if strings.TrimSpace(r.Code) == "" {
		errs = append(errs, errors.New("code is empty"))
	}
	if !utf8.ValidString(r.Code) {
		errs = append(errs, errors.New("code is not valid UTF-8"))
	}
	if len(r.Code) > MaxCodeBytes {
		errs = append(errs, fmt.Errorf("code is %d bytes, more than the %d allowed", len(r.Code), MaxCodeBytes))
	}
	total := 0
	for _, f := range r.Files {
		if err := ValidPath(f.Path); err != nil {
			errs = append(errs, err)
		}
		total += len(f.Content)
	}
	if total > MaxFilesBytes {
		errs = append(errs, fmt.Errorf("files total %d bytes, more than the %d allowed", total, MaxFilesBytes))
	}
	for _, p := range r.FetchFiles {
		if err := ValidPath(p); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.Limits.Validate())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// ValidPath accepts relative paths that stay inside the work dir.
func ValidPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return fmt.Errorf("file path %q must be relative to the work dir", p)
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("file path %q escapes the work dir", p)
	}
	return nil
}

// Result is how an execution ended and what it produced.
type Result struct {
	Status          Status
	ExitCode        int
	Signal          int
	Stdout, Stderr  []byte
	WallTime        time.Duration
	CPUTime         time.Duration
	PeakMemory      int64
	StdoutTruncated bool
	StderrTruncated bool
	Files           []File
	// Message says why the status is what it is, in one line.
	Message string
	// Degraded names mechanisms replaced on this host for this execution.
	Degraded []string
	// Display is the last expression's value (repr) when DisplayLast was set.
	Display string
}
