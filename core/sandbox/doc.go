// Package sandbox starts worker processes under isolation and tears them
// down without leftovers. A Sandbox backend (native: Linux namespaces,
// cgroups v1/v2, seccomp and rlimits; none: plain subprocesses for hosts
// that lack them) starts one Worker per warm interpreter. It knows nothing
// of languages or of the execution protocol spoken with the worker.
package sandbox
