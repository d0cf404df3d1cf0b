package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/retool-rl/retool/core/config"
	"github.com/retool-rl/retool/core/sandbox/containerd"
)

// imageCmd builds the OCI images of the containerd backend locally: no
// registry is needed, and the archive it writes can be carried to another
// machine and imported there (ctr images import).
func (a *app) imageCmd() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Build OCI images for the containerd sandbox backend"}
	var rootfs, ref, out string
	var imp bool
	build := &cobra.Command{
		Use:   "build [--rootfs DIR] [--ref REF] (--out FILE | --import)",
		Short: "Build an image as an OCI archive, from a rootfs directory or (without --rootfs) retool's host image",
		Long: "Without --rootfs the image is retool's host image (" + containerd.HostImage + "): mount points only, " +
			"the host's /usr and /etc are bound over it at run time. With --rootfs DIR its only layer is DIR " +
			"(a debootstrap tree, say), which must hold the interpreter; name it in sandbox.containerd.image " +
			"or a runtime's settings.image.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" && !imp {
				return errors.New("image build: give --out FILE, --import, or both")
			}
			var archive []byte
			var err error
			switch {
			case rootfs == "" && ref == "":
				ref = containerd.HostImage
				archive, err = containerd.HostImageArchive(ref)
			case rootfs == "":
				archive, err = containerd.HostImageArchive(ref)
			case ref == "":
				return errors.New("image build: --rootfs needs --ref, the name to give the image (e.g. retool.local/python:3.11)")
			default:
				if fi, serr := os.Stat(rootfs); serr != nil || !fi.IsDir() {
					return fmt.Errorf("image build: --rootfs %s is not a directory", rootfs)
				}
				archive, err = containerd.RootfsImageArchive(ref, rootfs)
			}
			if err != nil {
				return fmt.Errorf("image build: %w", err)
			}
			if out != "" {
				if err := os.WriteFile(out, archive, 0o644); err != nil {
					return fmt.Errorf("image build: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %d bytes)\n", out, ref, len(archive))
			}
			if imp {
				cfg, err := a.config("")
				if err != nil {
					return err
				}
				cl, err := containerd.Connect(cmd.Context(), clientConfig(cfg))
				if err != nil {
					return err
				}
				defer cl.Close()
				if err := cl.Import(cmd.Context(), ref, archive); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s into containerd namespace %s\n", ref, clientConfig(cfg).Namespace)
			}
			return nil
		},
	}
	f := build.Flags()
	f.StringVar(&rootfs, "rootfs", "", "directory whose tree is the image's only layer")
	f.StringVar(&ref, "ref", "", "image name (default without --rootfs: "+containerd.HostImage+")")
	f.StringVar(&out, "out", "", "write the OCI archive here")
	f.BoolVar(&imp, "import", false, "import the image into containerd (socket and namespace from sandbox.containerd)")
	c.AddCommand(build)
	return c
}

// clientConfig is the containerd connection sandbox.containerd describes.
func clientConfig(cfg *config.Config) containerd.Config {
	ct := cfg.Sandbox.Containerd
	c := containerd.Config{Socket: ct.Socket, Namespace: ct.Namespace, Runtime: ct.Runtime,
		Snapshotter: ct.Snapshotter, StateDir: ct.StateDir}
	if c.Namespace == "" {
		c.Namespace = containerd.DefaultNamespace
	}
	return c
}
