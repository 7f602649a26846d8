package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	gocni "github.com/containerd/go-cni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// runGocni does the same verbs through containerd's go-cni, configured the
// way containerd's CRI plugin configures it (one network, default options)
// but loading the network chosen by name instead of the first file.
func runGocni(req *request) error {
	// go-cni names interfaces <prefix><index> and the single loaded network
	// gets index 0, so CNI_IFNAME must end in "0"; its stem is the prefix.
	if !strings.HasSuffix(req.ifName, "0") {
		return fmt.Errorf("gocni: CNI_IFNAME %q must end in 0 (go-cni names interfaces <prefix><index>)", req.ifName)
	}
	// Order matters: WithPluginDir replaces the internal libcni instance and
	// networks capture it when loaded, so it (and the prefix) go first.
	var opts []gocni.Opt
	if len(req.pluginPath) > 0 {
		// Without it go-cni falls back to its own default, /opt/cni/bin.
		opts = append(opts, gocni.WithPluginDir(req.pluginPath))
	}
	opts = append(opts,
		gocni.WithInterfacePrefix(strings.TrimSuffix(req.ifName, "0")),
		gocni.WithConfListBytes(req.list.Bytes))
	c, err := gocni.New(opts...)
	if err != nil {
		return err
	}

	// go-cni keeps args in a map, so CNI_ARGS order is lost and a repeated
	// key keeps its last value, as in containerd.
	var nsOpts []gocni.NamespaceOpts
	for _, kv := range req.cniArgs {
		nsOpts = append(nsOpts, gocni.WithArgs(kv[0], kv[1]))
	}
	for k, v := range req.capArgs {
		nsOpts = append(nsOpts, gocni.WithCapability(k, v))
	}

	ctx := context.Background()
	switch req.verb {
	case "add":
		// Setup (parallel over networks) is containerd's default path.
		res, err := c.Setup(ctx, req.containerID, req.netns, nsOpts...)
		if err != nil {
			return err
		}
		// go-cni's Result (Interfaces/DNS/Routes, Go field names) plus the
		// raw per-network 1.0.0 results, which Result only exposes via Raw().
		out := struct {
			*gocni.Result
			Raw []*types100.Result `json:"Raw"`
		}{res, res.Raw()}
		b, err := json.MarshalIndent(out, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(os.Stdout, string(b))
		return err
	case "check":
		return c.Check(ctx, req.containerID, req.netns, nsOpts...)
	case "del":
		// go-cni's Remove swallows errors containing "not found".
		return c.Remove(ctx, req.containerID, req.netns, nsOpts...)
	case "status":
		// go-cni 1.1.7 Status only reports whether enough network configs
		// are loaded; it does not run the plugins' STATUS verb.
		return c.Status()
	default:
		return errUnsupported(req.verb, "go-cni (v1.1.7)")
	}
}
