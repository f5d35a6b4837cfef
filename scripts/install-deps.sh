#!/usr/bin/env bash
# Installs every Debian package that the build, the tests, the interop tests and the
# benchmark need. Idempotent: when everything is present it only runs dpkg-query.
set -euo pipefail

# What compiling flow-aggregator needs; `install-deps.sh --build` installs only these (the
# container image's build stage).
build_packages=(
  build-essential cmake ninja-build pkg-config git
  libcaf-dev libasio-dev libtomlplusplus-dev prometheus-cpp-dev
  libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libcivetweb-dev zlib1g-dev
  libgrpc++-dev libabsl-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # HTTP/2 for the grpc:// listener (rpc/export_connection.hpp).
  libnghttp2-dev
)
packages=(
  "${build_packages[@]}"
  libgtest-dev libgmock-dev googletest
  clang clang-format libclang-rt-14-dev
  tshark libfixbuf-tools python3-ipfix python3 python3-grpcio python3-protobuf
  kubernetes-client
  softflowd pmacct nfdump
  # The CPU benchmark (test/bench/cpu.sh) measures a socat TCP relay beside us; perf
  # (linux-perf) profiles it (BENCH_CPU_PERF).
  socat linux-perf
  openssl iproute2 procps
  # tools/grpc-go-agent: the Antrea Agent's gRPC library (grpc-go) as the benchmark's and
  # the interop tests' client, built offline in GOPATH mode.
  golang-go golang-google-grpc-dev golang-google-protobuf-dev
  # The ClickHouse destination's tests and benchmark run a real server (18.16 in Debian 12)
  # and query it back with its client; `unshare` (util-linux) gives the flow-log tests a
  # private read-only or full mount.
  clickhouse-server clickhouse-client util-linux curl
)

# `--container`: only what `make container-test` adds on top: buildah to build and run the
# image without a daemon (vfs storage, chroot isolation: no runc, fuse-overlayfs or
# slirp4netns), debootstrap to make the debian:bookworm-slim base locally when no registry
# is reachable, and curl to probe the admin port. Kept apart so that `make test` and CI do
# not install a container tool chain they never use.
container_packages=(buildah debootstrap curl ca-certificates)

case "${1:-}" in
  --build) packages=("${build_packages[@]}") ;;
  --container) packages=("${container_packages[@]}") ;;
esac

# Packages whose command may already come from another package: a machine with kubectl
# from the Kubernetes project's own repository (package `kubectl`) cannot also install
# Debian's kubernetes-client, which ships the same /usr/bin/kubectl (dpkg refuses the
# overwrite). Any kubectl with `kustomize` does for the manifest tests.
declare -A provided_by_command=([kubernetes-client]=kubectl)

missing=()
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  command_name="${provided_by_command[$p]:-}"
  if [ -n "$command_name" ] && command -v "$command_name" >/dev/null 2>&1; then
    continue
  fi
  missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether dumpcap may be setuid; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
