// Command railcni-cnitool drives CNI plugins the way container runtimes do:
// through libcni (github.com/containernetworking/cni, as cnitool and CRI-O do)
// or through containerd's go-cni (as containerd's CRI plugin does). It mirrors
// upstream cnitool's CLI and environment so conformance tests can swap them.
//
// It is built against the Go sources Debian packages (libcni 1.1.2, go-cni
// 1.1.7), so only what those versions offer is exercised; see README.md.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Environment variables; the first five are cnitool's, the rest are ours.
const (
	envCNIPath     = "CNI_PATH"
	envNetDir      = "NETCONFPATH"
	envCapArgs     = "CAP_ARGS"
	envCNIArgs     = "CNI_ARGS"
	envIfName      = "CNI_IFNAME"
	envContainerID = "CNI_CONTAINERID"
	envCacheDir    = "CNI_CACHEDIR"

	defaultNetDir = "/etc/cni/net.d"
)

// request is everything cnitool derives from its arguments and environment.
type request struct {
	verb        string
	list        *libcni.NetworkConfigList
	netns       string
	containerID string
	ifName      string
	pluginPath  []string
	cniArgs     [][2]string
	capArgs     map[string]interface{}
}

// errUnsupported marks verbs the packaged libraries cannot perform; the
// message text is stable so tests can recognise it and skip.
func errUnsupported(verb, lib string) error {
	return fmt.Errorf("%s: not supported by this %s", verb, lib)
}

func main() {
	lib := flag.String("lib", "libcni", "runtime library to drive plugins with: libcni or gocni")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() != 3 {
		usage()
	}
	switch flag.Arg(0) {
	case "add", "check", "del", "gc", "status":
	default:
		usage()
	}
	run := map[string]func(*request) error{"libcni": runLibcni, "gocni": runGocni}[*lib]
	if run == nil {
		fmt.Fprintf(os.Stderr, "unknown --lib %q (want libcni or gocni)\n", *lib)
		os.Exit(1)
	}

	req, err := newRequest(flag.Arg(0), flag.Arg(1), flag.Arg(2))
	if err != nil {
		exit(err)
	}
	// libcni.CacheDir is the package-wide default. go-cni offers no option
	// for a cache dir, so setting the global is the only way to make both
	// libraries honour CNI_CACHEDIR identically.
	if dir := os.Getenv(envCacheDir); dir != "" {
		libcni.CacheDir = dir
	}

	exit(run(req))
}

func newRequest(verb, netName, netns string) (*request, error) {
	netdir := os.Getenv(envNetDir)
	if netdir == "" {
		netdir = defaultNetDir
	}
	// Same lookup as cnitool: *.conflist by name, then *.conf/*.json upconverted.
	list, err := libcni.LoadConfList(netdir, netName)
	if err != nil {
		return nil, err
	}

	req := &request{verb: verb, list: list}
	if v := os.Getenv(envCapArgs); v != "" {
		if err := json.Unmarshal([]byte(v), &req.capArgs); err != nil {
			return nil, fmt.Errorf("invalid %s: %w", envCapArgs, err)
		}
	}
	if v := os.Getenv(envCNIArgs); v != "" {
		if req.cniArgs, err = parseArgs(v); err != nil {
			return nil, err
		}
	}
	// LookupEnv, not Getenv: cnitool passes a set-but-empty CNI_IFNAME through.
	var ok bool
	if req.ifName, ok = os.LookupEnv(envIfName); !ok {
		req.ifName = "eth0"
	}
	if req.netns, err = filepath.Abs(netns); err != nil {
		return nil, err
	}
	// cnitool's container ID: stable per netns path. The override exists so
	// tests can make two attachments in one netns.
	if req.containerID = os.Getenv(envContainerID); req.containerID == "" {
		sum := sha512.Sum512([]byte(req.netns))
		req.containerID = fmt.Sprintf("cnitool-%x", sum[:10])
	}
	req.pluginPath = filepath.SplitList(os.Getenv(envCNIPath))
	return req, nil
}

// parseArgs is cnitool's strict K=V;K=V parser (empty keys/values rejected).
func parseArgs(args string) ([][2]string, error) {
	var result [][2]string
	for _, pair := range strings.Split(args, ";") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
			return nil, fmt.Errorf("invalid CNI_ARGS pair %q", pair)
		}
		result = append(result, [2]string{kv[0], kv[1]})
	}
	return result, nil
}

// runLibcni is cnitool's body.
func runLibcni(req *request) error {
	cninet := libcni.NewCNIConfig(req.pluginPath, nil)
	rt := &libcni.RuntimeConf{
		ContainerID:    req.containerID,
		NetNS:          req.netns,
		IfName:         req.ifName,
		Args:           req.cniArgs,
		CapabilityArgs: req.capArgs,
	}
	ctx := context.Background()
	switch req.verb {
	case "add":
		result, err := cninet.AddNetworkList(ctx, req.list, rt)
		if result != nil {
			// Printed in the conflist's cniVersion, 4-space indent, like
			// cnitool; plus a newline, which libcni 1.1.2 leaves off.
			if perr := result.Print(); perr != nil && err == nil {
				err = perr
			}
			fmt.Println()
		}
		return err
	case "check":
		return cninet.CheckNetworkList(ctx, req.list, rt)
	case "del":
		return cninet.DelNetworkList(ctx, req.list, rt)
	default:
		// libcni 1.1.2 predates spec 1.1.0: no GCNetworkList/GetStatusNetworkList.
		return errUnsupported(req.verb, "libcni (v1.1.2)")
	}
}

func usage() {
	exe := filepath.Base(os.Args[0])
	fmt.Fprintf(os.Stderr, "%s: add, check, remove, gc or status network interfaces from a network namespace\n", exe)
	fmt.Fprintf(os.Stderr, "  %s [--lib libcni|gocni] {add|check|del|gc|status} <net> <netns>\n", exe)
	fmt.Fprintf(os.Stderr, "env: NETCONFPATH CNI_PATH CNI_ARGS CAP_ARGS CNI_IFNAME CNI_CONTAINERID CNI_CACHEDIR\n")
	os.Exit(1)
}

// exit mirrors cnitool (error text on stderr, status 1) and additionally
// prints a plugin's structured CNI error on stdout so tests can read its code.
func exit(err error) {
	if err == nil {
		os.Exit(0)
	}
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		if b, jerr := json.Marshal(cniErr); jerr == nil {
			fmt.Println(string(b))
		}
	}
	fmt.Fprintf(os.Stderr, "%s\n", err)
	os.Exit(1)
}
