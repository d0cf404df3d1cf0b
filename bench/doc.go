// Package bench holds retool's benchmarks: warm-pool executions against a
// fresh-process-per-execution baseline measured in the same run. Run them
// with `make bench` (go test -bench); they are never timed unit tests.
package bench
