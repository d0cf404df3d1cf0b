// Package containerd runs one-shot programs in containerd containers
// without a registry: the image holds little more than mount points, and
// the host's /usr and /etc are bind-mounted into it read-only.
//
// Each Run owns a lease, a container, a read-only snapshot view and a
// task, and removes all of them before it returns, also on error, so a
// namespace holds nothing but the image between runs (see Leaks).
//
// The recipe was measured on a cgroup v1 host with containerd 2.4 and
// runc 1.1 (docs/containerd-spike.md); a run costs about 90 ms.
package containerd
