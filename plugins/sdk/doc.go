// Package sdk is what a runtime plugin's author imports: the Runtime
// interface in plain Go types, Serve to run a plugin binary, and
// WarmRuntime, which turns a driver script into a sandboxed, pre-warmed
// runtime. The orchestrator uses the same package to talk to plugins;
// the generated protobuf code stays behind it.
package sdk
