// libcni-client runs a pod's CNI operations through libcni, the way a container runtime does, so the
// tests see what containerd would: which config and result versions this libcni accepts, its result
// cache, and the errors it reports. It is built once per libcni version (tools/build-components.sh)
// from this one source, which uses only the API that v1.1.x, v1.2.x and v1.3.x share.
//
//	libcni-client -confdir DIR -cachedir DIR -path DIR:DIR -netns PATH -containerid ID \
//	    -pod NAMESPACE/NAME -poduid UID [-ifname eth0] [-capabilities JSON] ADD|CHECK|DEL...
//
// It prints one JSON line per operation, {"op", "libcni", "ok", "result" or "error"}, stops at the
// first that fails and then exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

const cniModule = "github.com/containernetworking/cni"

// loadFirst picks the network as containerd's go-cni does (with the CRI plugin's limit of one config):
// the first .conf/.conflist/.json file of the folder by name; a single-plugin .conf becomes a list
// (ConfFromFile is deprecated in v1.3.0, but go-cni still calls it and all three versions have it).
func loadFirst(dir string) (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no network config found in %s", dir)
	}
	sort.Strings(files)
	if strings.HasSuffix(files[0], ".conflist") {
		return libcni.ConfListFromFile(files[0])
	}
	conf, err := libcni.ConfFromFile(files[0])
	if err != nil {
		return nil, err
	}
	if conf.Network.Type == "" {
		return nil, fmt.Errorf("network type not found in %s", files[0])
	}
	return libcni.ConfListFromConf(conf)
}

// libcniVersion is the libcni module this binary was built against, so a test can tell the builds apart.
func libcniVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == cniModule {
				return dep.Version
			}
		}
	}
	return "unknown"
}

type line struct {
	Op     string          `json:"op"`
	Libcni string          `json:"libcni"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func run(cni *libcni.CNIConfig, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf, op string) (json.RawMessage, error) {
	ctx := context.Background()
	switch op {
	case "ADD":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return nil, err
		}
		return json.Marshal(result)
	case "CHECK":
		return nil, cni.CheckNetworkList(ctx, list, rt)
	case "DEL":
		return nil, cni.DelNetworkList(ctx, list, rt)
	}
	return nil, fmt.Errorf("unknown operation %q (ADD, CHECK or DEL)", op)
}

func main() {
	confDir := flag.String("confdir", "/etc/cni/net.d", "CNI conf dir; its first config is the network")
	cacheDir := flag.String("cachedir", "/var/lib/cni", "libcni's cache dir (results/ beneath it)")
	path := flag.String("path", "/opt/cni/bin", "plugin folders (CNI_PATH), separated by ':'")
	netns := flag.String("netns", "", "network namespace path")
	containerID := flag.String("containerid", "", "sandbox container ID")
	ifName := flag.String("ifname", "eth0", "interface name")
	pod := flag.String("pod", "", "NAMESPACE/NAME of the pod")
	podUID := flag.String("poduid", "", "UID of the pod")
	capabilities := flag.String("capabilities", "", "runtimeConfig as a JSON object (CapabilityArgs)")
	flag.Parse()

	emit := func(l line) {
		l.Libcni = libcniVersion()
		out, _ := json.Marshal(l)
		fmt.Println(string(out))
	}
	fail := func(op string, err error) {
		emit(line{Op: op, Error: err.Error()})
		os.Exit(1)
	}

	namespace, name, found := strings.Cut(*pod, "/")
	if !found || *netns == "" || *containerID == "" || *podUID == "" || flag.NArg() == 0 {
		fail("usage", errors.New("-netns, -containerid, -pod NAMESPACE/NAME, -poduid and an operation are required"))
	}
	list, err := loadFirst(*confDir)
	if err != nil {
		fail("load", err)
	}
	// The CNI_ARGS containerd's CRI plugin sends for a pod sandbox.
	rt := &libcni.RuntimeConf{
		ContainerID: *containerID,
		NetNS:       *netns,
		IfName:      *ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", namespace},
			{"K8S_POD_NAME", name},
			{"K8S_POD_INFRA_CONTAINER_ID", *containerID},
			{"K8S_POD_UID", *podUID},
		},
	}
	if *capabilities != "" {
		if err := json.Unmarshal([]byte(*capabilities), &rt.CapabilityArgs); err != nil {
			fail("usage", fmt.Errorf("-capabilities: %w", err))
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(*path), *cacheDir, nil)
	for _, op := range flag.Args() {
		result, err := run(cni, list, rt, op)
		if err != nil {
			fail(op, err)
		}
		emit(line{Op: op, OK: true, Result: result})
	}
}
