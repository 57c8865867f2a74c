#!/usr/bin/env bash
# Builds depot_<version>_<arch>.deb from a built depot binary, with Debian's own tools:
# scripts/install.sh stages the files exactly as `make install` puts them (prefix /usr),
# dpkg-shlibdeps works out Depends from the libraries the binary links, dpkg-deb builds the
# archive. `make deb` runs it on the release binary; PackageTests runs it on the test build.
#
#   scripts/make-deb.sh [--allow-unpackaged-libs] BINARY OUTDIR     prints the .deb's path
#
# --allow-unpackaged-libs: package a binary that links libraries no Debian package provides
#   (a debug build links the Swift runtime of the toolchain in /opt/swift); the package then
#   runs only where those libraries are. `make deb` links the runtime statically instead.
# Environment: DEBFULLNAME and DEBEMAIL (the Maintainer; default: the last commit's author),
#   DEB_COMPRESSION (dpkg-deb -Z: xz, the default, gzip, zstd or none), GENERATE_MANUAL (the
#   generate-manual tool; default: scripts/manual-tool.sh builds it).
set -euo pipefail
umask 022

usage() { echo "usage: $0 [--allow-unpackaged-libs] BINARY OUTDIR" >&2; exit 64; }
allow_unpackaged=0
if [ "${1:-}" = --allow-unpackaged-libs ]; then allow_unpackaged=1; shift; fi
[ $# -eq 2 ] || usage
binary="$(realpath "$1")"
outdir="$2"
here="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$here/packaging/deb"

[ -x "$binary" ] || { echo "make-deb: $1 is not an executable" >&2; exit 66; }
version="$("$binary" --version)"
# The package's version is the binary's own, so the two cannot disagree.
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "make-deb: '$version' is not a Debian version" >&2; exit 65; }
arch="$(dpkg --print-architecture)"
generate_manual="${GENERATE_MANUAL:-$("$here/scripts/manual-tool.sh")}"
if [ -n "${DEBFULLNAME:-}" ] && [ -n "${DEBEMAIL:-}" ]; then
  maintainer="$DEBFULLNAME <$DEBEMAIL>"
else
  maintainer="$(git -C "$here" log -1 --format='%an <%ae>')"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/depot_${version}_${arch}"
mkdir -m 0755 "$stage"

# Debian 12 paths: units in /lib/systemd/system (the merged /usr came with it, but bookworm's
# packages, deb-systemd-helper and lintian still use /lib; trixie moves them to /usr/lib),
# sysusers.d and tmpfiles.d in /usr/lib, zsh's vendor folder.
env DESTDIR="$stage" PREFIX=/usr BINDIR=/usr/bin SYSCONFDIR=/etc UNITDIR=/lib/systemd/system \
    SYSUSERSDIR=/usr/lib/sysusers.d TMPFILESDIR=/usr/lib/tmpfiles.d DATADIR=/usr/share \
    DOCDIR=/usr/share/doc/depot MANDIR=/usr/share/man BASHCOMPDIR=/usr/share/bash-completion/completions \
    ZSHCOMPDIR=/usr/share/zsh/vendor-completions FISHCOMPDIR=/usr/share/fish/vendor_completions.d \
    CONFIG_MODE=replace GENERATE_MANUAL="$generate_manual" \
    "$here/scripts/install.sh" install "$binary" >&2

# Debian policy: a stripped binary (as dh_strip does it), compressed man pages, a changelog and
# a copyright file.
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$stage/usr/bin/depot" "$stage/usr/bin/depot-worker"
gzip -9n "$stage/usr/share/man/man1/depot.1"

commit="$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)"
date="$(git -C "$here" log -1 --format=%cD 2>/dev/null || date -R)"
{
  printf 'depot (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built from commit %s; the git history is the changelog.\n\n' "$commit"
  printf ' -- %s  %s\n' "$maintainer" "$date"
} | gzip -9n > "$stage/usr/share/doc/depot/changelog.gz"

{
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: depot
Comment: The depot repository does not state a license yet. /usr/bin/depot also
 contains, linked statically, the Swift runtime and standard library (Apache-2.0
 with the Runtime Library Exception) and code of the Swift packages below; the
 binary links the C libraries named in Depends dynamically.

Files: *
Copyright: the depot authors
License: none-stated
 No license has been chosen for depot yet.
EOF
  # The Swift packages resolved for this build, with the license their own LICENSE file names.
  for dir in "$here"/.build/checkouts/*/; do
    name="$(basename "$dir")"
    license_file="$(find "$dir" -maxdepth 1 -iname 'licen[cs]e*' | sort | head -n1)"
    [ -n "$license_file" ] || continue
    if grep -q 'Apache License' "$license_file" && grep -q 'Version 2.0' "$license_file"; then
      printf '\nFiles: swift-package/%s/*\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n' "$name"
    else
      license="$(head -n1 "$license_file" | sed 's/ *$//')"
      grep -q 'Permission is hereby granted, free of charge' "$license_file" && license=MIT
      printf '\nFiles: swift-package/%s/*\nLicense: %s\n' "$name" "$license"
      sed -e 's/^$/./' -e 's/^/ /' "$license_file"
    fi
  done
} > "$stage/usr/share/doc/depot/copyright"
chmod 0644 "$stage/usr/share/doc/depot/copyright" "$stage/usr/share/doc/depot/changelog.gz"

# Depends: the packages of the shared libraries the binary links (dpkg-shlibdeps reads their
# symbols files), then what the maintainer scripts run.
mkdir -p "$work/source/debian"
printf 'Source: depot\nMaintainer: %s\n\nPackage: depot\nArchitecture: any\n' "$maintainer" > "$work/source/debian/control"
shlibdeps_flags=()
[ "$allow_unpackaged" = 1 ] && shlibdeps_flags+=(--ignore-missing-info)
if ! shlibs="$(cd "$work/source" && dpkg-shlibdeps "${shlibdeps_flags[@]}" -O "$stage/usr/bin/depot" "$stage/usr/bin/depot-worker" 2>"$work/shlibdeps.log")"; then
  cat "$work/shlibdeps.log" >&2
  echo "make-deb: a library the binary links belongs to no Debian package (the Swift runtime?):" >&2
  echo "make-deb: build it with --static-swift-stdlib (make deb does), or pass --allow-unpackaged-libs" >&2
  exit 69
fi
shlibs="${shlibs#shlibs:Depends=}"
if [ "$allow_unpackaged" = 1 ]; then
  # One dpkg -S for all of them, by the path ldd found and by the real one (/lib is /usr/lib).
  mapfile -t libs < <(ldd "$binary" | awk '$3 ~ /^\// {print $3}')
  owned="$( { for lib in "${libs[@]}"; do echo "$lib"; realpath "$lib"; done; } | { xargs dpkg -S 2>/dev/null || true; } | sed 's/^.*: //')"
  unpackaged=()
  for lib in "${libs[@]}"; do
    grep -qxF -e "$lib" -e "$(realpath "$lib")" <<<"$owned" || unpackaged+=("$lib")
  done
  [ ${#unpackaged[@]} -eq 0 ] || echo "make-deb: warning: the package needs libraries no package provides: ${unpackaged[*]}" >&2
fi

install -d -m 0755 "$stage/DEBIAN"
size="$(du -sk "$stage" | cut -f1)"
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@SIZE@|$size|" -e "s|@SHLIBS@|$shlibs|" "$pkg/control.in" > "$stage/DEBIAN/control"
# The config is the admin's once installed: dpkg keeps an edited one and asks on upgrade.
{ echo /etc/depot/depot.toml; (cd "$stage" && find etc/depot/prompts -type f -printf '/%p\n' | sort); } > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$pkg/$script" "$stage/DEBIAN/$script"
done
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
  > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$outdir"
deb="$(realpath "$outdir")/depot_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$stage" "$deb" >&2
echo "$deb"
