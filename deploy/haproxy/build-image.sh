#!/bin/sh
# build-image.sh builds a FROM scratch haproxy image out of the haproxy
# binary of this machine's Debian package and the shared libraries ldd
# lists for it, so that deploy/compose.yaml can put haproxy in front of
# prefsd without pulling an image from a registry.
#
#   sudo apt-get update && sudo apt-get install -y haproxy   # once
#   deploy/haproxy/build-image.sh [TAG]                      # TAG: prefsd-haproxy:local
#
# The image runs haproxy in the foreground as an unprivileged user with
# /usr/local/etc/haproxy/haproxy.cfg, which compose mounts from
# deploy/haproxy.cfg.
set -eu

tag=${1:-prefsd-haproxy:local}
bin=$(command -v haproxy 2>/dev/null || true)
[ -n "$bin" ] || bin=/usr/sbin/haproxy
if [ ! -x "$bin" ]; then
	echo "build-image.sh: haproxy is not installed; run: apt-get update && apt-get install -y haproxy" >&2
	exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT INT TERM

# copy_file FILE copies FILE, following symbolic links, to the same path
# under the image's root.
copy_file() {
	mkdir -p "$ctx/rootfs$(dirname "$1")"
	cp -L "$1" "$ctx/rootfs$1"
}

copy_file "$bin"
# ldd prints "name => /path (address)" for libraries and "/path (address)"
# for the dynamic loader; the vDSO has no file.
for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
	copy_file "$lib"
done

mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/usr/local/etc/haproxy" "$ctx/rootfs/tmp"
printf 'root:x:0:0:root:/:/sbin/nologin\nhaproxy:x:65533:65533:haproxy:/:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nhaproxy:x:65533:\n' >"$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"

cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
USER 65533:65533
EXPOSE 8080
ENTRYPOINT ["/usr/sbin/haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
DOCKERFILE

version=$("$bin" -v | awk 'NR == 1 { print $3 }')
docker build --label "org.opencontainers.image.version=$version" -t "$tag" "$ctx"
echo "built $tag (haproxy $version from $bin)"
