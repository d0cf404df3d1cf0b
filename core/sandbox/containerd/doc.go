// Package containerd is the containerd sandbox backend: each warm worker
// of a pool is a containerd task whose init (the plugin binary, mounted
// read-only) receives the worker's descriptors over a unix socket and
// starts the same fork-server driver as the native backend, so
// executions fork inside an already running container.
//
// Images need no registry: the default one holds little more than mount
// points, with the host's /usr and /etc bound over it read-only; others
// are built from a rootfs directory as OCI archives and imported, or
// pulled where a registry is reachable.
//
// A worker owns a container (in its own user namespace and host id
// range), its snapshot and its task; closing it removes all three, and
// removals that fail while the daemon is down are retried (see Leaks).
package containerd
