# Sourced by scripts/container-base.sh and scripts/container-test.sh: buildah on the
# project's own storage. The vfs driver works anywhere (also inside a container, where
# overlay mounts are refused) and a storage of its own cannot clash with one that another
# tool set up with a different driver. Isolation is chroot: no runc or crun, no daemon.
#
# To use the images by hand:
#   buildah --root /var/tmp/flow-aggregator-container/storage --storage-driver vfs images
#   ... push localhost/flow-aggregator:test docker-archive:flow-aggregator.tar
# shellcheck shell=bash

FA_CONTAINER_CACHE=${FA_CONTAINER_CACHE:-/var/tmp/flow-aggregator-container}
FA_BUILDAH_ROOT=${FA_BUILDAH_ROOT:-$FA_CONTAINER_CACHE/storage}
FA_BUILDAH_RUNROOT=${FA_BUILDAH_RUNROOT:-/run/flow-aggregator-container}
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

# An array too, for commands that cannot run a shell function (timeout).
buildah_cmd=(buildah --root "$FA_BUILDAH_ROOT" --runroot "$FA_BUILDAH_RUNROOT" --storage-driver vfs)
buildah() { command "${buildah_cmd[@]}" "$@"; }
