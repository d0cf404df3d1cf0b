// Package host probes what the current machine offers the retool sandbox:
// namespaces, cgroups, seccomp and no_new_privs, the interpreters the runtime
// plugins need, and containerd. Every probe is a real, short-lived test with a
// timeout; the resulting Report is the data behind `retool doctor`.
package host
