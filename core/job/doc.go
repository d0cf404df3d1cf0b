// Package job runs the jobs retool.hcl defines. Until the trainer lands
// there is one: "replay", which re-executes the code of recorded
// tool-integrated traces in the sandbox and compares the output with the
// one recorded, a real end-to-end check of the execution path.
package job
