package main

// runCodeRequest is SandboxFusion's POST /run_code body, field for field
// as verl sends it.
type runCodeRequest struct {
	Code           string            `json:"code"`
	Language       string            `json:"language"`
	CompileTimeout float64           `json:"compile_timeout"`
	RunTimeout     float64           `json:"run_timeout"`
	MemoryLimitMB  int               `json:"memory_limit_MB"`
	Stdin          string            `json:"stdin"`
	Files          map[string]string `json:"files"`
	FetchFiles     []string          `json:"fetch_files"`
}

// commandResult is SandboxFusion's compile_result / run_result.
type commandResult struct {
	Status        string  `json:"status"` // Finished | Error | TimeLimitExceeded
	ExecutionTime float64 `json:"execution_time"`
	ReturnCode    *int    `json:"return_code"`
	Stdout        string  `json:"stdout"`
	Stderr        string  `json:"stderr"`
}

// runCodeResponse is SandboxFusion's /run_code answer.
type runCodeResponse struct {
	Status          string            `json:"status"` // Success | Failed | SandboxError
	Message         string            `json:"message"`
	CompileResult   *commandResult    `json:"compile_result"`
	RunResult       *commandResult    `json:"run_result"`
	ExecutorPodName *string           `json:"executor_pod_name"`
	Files           map[string]string `json:"files"`
}

// SandboxFusion's status values.
const (
	statusSuccess      = "Success"
	statusFailed       = "Failed"
	statusSandboxError = "SandboxError"

	runFinished = "Finished"
	runError    = "Error"
	runTimeout  = "TimeLimitExceeded"
)
