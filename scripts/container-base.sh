#!/usr/bin/env bash
# Makes sure buildah's local storage holds the base image the Dockerfile starts FROM,
# debian:bookworm-slim. In order:
#   1. the image is already there (pulled, or made by this script less than
#      FA_BASE_MAX_AGE_DAYS days ago): use it;
#   2. a registry answers: pull it;
#   3. otherwise bootstrap it: debootstrap --variant=minbase bookworm from the Debian mirror,
#      slimmed the way the official -slim image is (no docs, man pages or locales, apt
#      keeps no .debs or lists), imported as docker.io/library/debian:bookworm-slim with
#      the label org.flow-aggregator.base.bootstrapped=YYYY-MM-DD. The root file system is
#      cached as a tarball under $FA_CONTAINER_CACHE, one per day, so a rerun imports it in
#      seconds instead of bootstrapping again.
# Needs root (debootstrap; buildah's vfs storage) and the packages of install-deps.sh --container.
set -euo pipefail
# shellcheck source=scripts/container-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/container-common.sh"

BASE=${FA_BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
SUITE=${FA_BASE_SUITE:-bookworm}
MIRROR=${FA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=$FA_CONTAINER_CACHE
MAX_AGE_DAYS=${FA_BASE_MAX_AGE_DAYS:-7}
LABEL=org.flow-aggregator.base.bootstrapped

say() { echo "container-base: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

today=$(date -u +%F)
days_since() { echo $((($(date -u -d "$today" +%s) - $(date -u -d "$1" +%s)) / 86400)); }

# 1. Already in local storage?
if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  made=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$LABEL\"}}" "$BASE" 2>/dev/null || true)
  if [ -z "$made" ] || [ "$made" = "<no value>" ]; then
    say "$BASE present (pulled from a registry)"
    exit 0
  fi
  if [ "$(days_since "$made")" -lt "$MAX_AGE_DAYS" ]; then
    say "$BASE present (bootstrapped $made)"
    exit 0
  fi
  say "$BASE was bootstrapped $made, more than $MAX_AGE_DAYS days ago: refreshing"
fi

# 2. A registry? The lookup fails within a second when there is no network to it.
if timeout 300 "${buildah_cmd[@]}" pull --quiet "$BASE" >/dev/null 2>&1; then
  say "pulled $BASE"
  exit 0
fi
say "cannot pull $BASE (no registry reachable): bootstrapping it from $MIRROR"

# 3. Bootstrap (or reuse today's tarball) and import.
mkdir -p "$CACHE"
tarball="$CACHE/debian-$SUITE-slim-$today.tar"
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/install-deps.sh --container)"
  work=$(mktemp -d "$CACHE/bootstrap.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  root="$work/rootfs"
  say "debootstrap --variant=minbase $SUITE (about a minute)"
  if ! timeout 1200 debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
  # What the official image's "slimify" step does: dpkg leaves documentation, manuals
  # and translations out of every package installed later, and they go from the base now.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
  # apt keeps no downloaded packages and no binary caches in image layers.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  # The same sources as the official image: the release, its updates and security.
  rm -f "$root/etc/apt/sources.list"
  security=${MIRROR%/debian}/debian-security
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<CFG
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda}/* "$root"/usr/share/locale/*
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  rm -rf "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
  # The runtime provides these per container.
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
  : >"$root/etc/machine-id"
  tar --numeric-owner --xattrs -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$work"
  trap - EXIT
  # Older tarballs are of no further use.
  find "$CACHE" -maxdepth 1 -name "debian-$SUITE-slim-*.tar" -not -name "${tarball##*/}" -delete
else
  say "using today's bootstrap $tarball"
fi

ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
tar --numeric-owner --xattrs -C "$mnt" -xpf "$tarball"
buildah umount "$ctr" >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd bash \
  --label "$LABEL=$today" \
  --label "org.flow-aggregator.base.source=debootstrap --variant=minbase $SUITE $MIRROR" \
  "$ctr"
buildah commit --quiet --format docker --rm "$ctr" "$BASE" >/dev/null
trap - EXIT
say "imported $BASE ($(buildah images --format '{{.Size}}' "$BASE" | head -n1))"
