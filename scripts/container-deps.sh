#!/usr/bin/env bash
# Installs what `make container-test` needs on top of scripts/install-deps.sh: buildah to
# build and run the image without a daemon (vfs storage, chroot isolation, so no runc,
# crun, fuse-overlayfs or slirp4netns), debootstrap to make the debian:bookworm-slim base
# locally when no registry is reachable, and curl to probe the admin port. Kept apart so
# that `make test` and CI do not install a container tool chain they never use.
# Idempotent: when everything is present it only runs dpkg-query.
set -euo pipefail

packages=(buildah debootstrap curl ca-certificates)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "container-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
