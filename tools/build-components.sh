#!/usr/bin/env bash
# Builds the real components the tests run against (kube-apiserver, kubectl, kubelet, etcd, CNI plugins,
# containerd 2.x, crictl, the libcni clients) from the pinned Go modules beside this script. Each build
# lands in a cache folder keyed by component and version, so a pin change rebuilds and an unchanged pin
# costs nothing. Prints nothing but progress on stderr: what is built, a line every 20 s while it runs,
# and how long it took.
#
# Usage: build-components.sh [GROUP...]  with groups kube kubelet etcd cni containerd crictl libcni
# (default: all of them; `make demo` builds only cni).
set -euo pipefail

groups=("$@")
# want GROUP: whether this run builds GROUP.
want() { [ ${#groups[@]} -eq 0 ] || [[ " ${groups[*]} " == *" $1 "* ]]; }

here=$(cd "$(dirname "$0")" && pwd)
cache=${MULTUS_CACHE_DIR:-$HOME/.cache/multus-py}
export CGO_ENABLED=0 GOFLAGS=-mod=mod
# Go may be installed outside PATH (the toolchain's own folder); look there too.
go=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$go" ]; then
    echo "build-components.sh: Go is needed to build the components (1.26, as the README says); not found in PATH or /usr/local/go/bin" >&2
    exit 1
fi

version_of() { (cd "$here/$1" && "$go" list -m -f '{{.Version}}' "$2"); }

# build <component dir> <cache name> <package>... : builds every package into <cache>/<name>/bin.
build() {
    local dir=$1 name=$2; shift 2
    local out=$cache/$name
    if [ -f "$out/.complete" ]; then
        return 0
    fi
    echo "building $name (cached in $out); a first build takes minutes" >&2
    local started=$SECONDS
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp/bin"
    (cd "$here/$dir" && "$go" build -trimpath -ldflags "${LDFLAGS:-}" -o "$out.tmp/bin/" "$@") &
    local pid=$! said=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if ((SECONDS - said >= 20)); then
            echo "  still building $name: $((SECONDS - started)) s so far" >&2
            said=$SECONDS
        fi
    done
    wait "$pid"
    touch "$out.tmp/.complete"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    echo "built $name in $((SECONDS - started)) s" >&2
}

# link <cache name> <target> : points a stable name in the cache at the versioned build.
link() { ln -sfn "$cache/$1/bin" "$cache/$2.tmp" && mv -T "$cache/$2.tmp" "$cache/$2"; }

mkdir -p "$cache"

if want kube || want kubelet; then
    kube=$(version_of kube k8s.io/kubernetes)
    minor=${kube#v1.}; minor=${minor%%.*}
    stamp="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        stamp+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
fi
if want kube; then
    LDFLAGS=$stamp build kube "kube-$kube" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
    link "kube-$kube" kube-bin
fi
if want kubelet; then
    LDFLAGS=$stamp build kube "kubelet-$kube" k8s.io/kubernetes/cmd/kubelet
    link "kubelet-$kube" kubelet-bin
fi

if want etcd; then
    etcd=$(version_of etcd go.etcd.io/etcd/server/v3)
    LDFLAGS="-s -w" build etcd "etcd-$etcd" go.etcd.io/etcd/server/v3
    # The etcd server module's main package is its root, which go build names "server".
    [ -e "$cache/etcd-$etcd/bin/etcd" ] || mv "$cache/etcd-$etcd/bin/server" "$cache/etcd-$etcd/bin/etcd"
    link "etcd-$etcd" etcd-bin
fi

if want cni; then
    cni=$(version_of cni github.com/containernetworking/plugins)
    mapfile -t plugins < <(cd "$here/cni" && "$go" list -f '{{.ImportPath}}' tool)
    LDFLAGS="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni" \
        build cni "cni-plugins-$cni" "${plugins[@]}"
    link "cni-plugins-$cni" cni-bin
fi

# containerd 2.x beside Debian's 1.6: the daemon, its runc shim and ctr (which imports the pause image).
if want containerd; then
    containerd=$(version_of containerd github.com/containerd/containerd/v2)
    LDFLAGS="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd" \
        build containerd "containerd-$containerd" -tags "no_btrfs no_devmapper no_zfs" \
        github.com/containerd/containerd/v2/cmd/containerd \
        github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr
    link "containerd-$containerd" containerd-bin
fi

if want crictl; then
    crictl=$(version_of cri-tools sigs.k8s.io/cri-tools)
    LDFLAGS="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl" \
        build cri-tools "crictl-$crictl" sigs.k8s.io/cri-tools/cmd/crictl
    link "crictl-$crictl" crictl-bin
fi

# --- libcni-client (tests/libcni) --------------------------------------------------------------------
# The tests' libcni matrix: one source built against each libcni version in tests/libcni/versions (what
# the runtimes vendor) through a go.mod copy requiring it. The cache name carries the version and a hash
# of the source, so editing the program rebuilds; the tests run "$cache/libcni-<version>-bin/libcni-client".
if want libcni; then
    libcni_src=$here/../tests/libcni
    libcni_hash=$(cd "$libcni_src" && cat go.mod go.sum libcni-client/*.go | sha256sum | cut -c1-12)
    libcni_mods=$(mktemp -d)
    trap 'rm -rf "$libcni_mods"' EXIT
    for libcni in $(grep -v '^#' "$libcni_src/versions"); do
        # -modfile=X.mod reads X.sum beside it: both copies, go.sum holding every version's entries.
        cp "$libcni_src/go.mod" "$libcni_mods/$libcni.mod"
        cp "$libcni_src/go.sum" "$libcni_mods/$libcni.sum"
        "$go" mod edit -require="github.com/containernetworking/cni@$libcni" "$libcni_mods/$libcni.mod"
        LDFLAGS="-s -w" build ../tests/libcni "libcni-$libcni-$libcni_hash" \
            -modfile="$libcni_mods/$libcni.mod" ./libcni-client
        link "libcni-$libcni-$libcni_hash" "libcni-$libcni-bin"
    done
fi
