#!/usr/bin/env bash
# Installs (or removes) depot's files: what `make install` and `scripts/make-deb.sh` share, so a
# package holds exactly what an install from source puts on the machine.
#
#   scripts/install.sh install   BINARY   copies the files into $DESTDIR
#   scripts/install.sh uninstall          removes them again (never the config or the data)
#
# Where things go comes from the environment, with the defaults of `make install`:
#   DESTDIR       staging root, prepended to every path (a package's tree); empty: this machine
#   PREFIX        /usr/local
#   BINDIR        $PREFIX/bin                       the depot and depot-worker binaries
#   SYSCONFDIR    /etc                              depot/depot.toml, written only if missing
#   UNITDIR       $PREFIX/lib/systemd/system        depot.service, with its paths set to these
#   SYSUSERSDIR   $PREFIX/lib/sysusers.d            depot.conf: the user and group
#   TMPFILESDIR   $PREFIX/lib/tmpfiles.d            depot.conf: /srv/depot and its folders
#   DATADIR       $PREFIX/share                     depot/: what `depot init` lays out
#   DOCDIR        $DATADIR/doc/depot
#   MANDIR        $DATADIR/man                      man1/depot.1, generated from the parser
#   BASHCOMPDIR   $DATADIR/bash-completion/completions
#   ZSHCOMPDIR    $DATADIR/zsh/site-functions
#   FISHCOMPDIR   $DATADIR/fish/vendor_completions.d
#   GENERATE_MANUAL  swift-argument-parser's generate-manual tool (install only)
#   MANUAL_DATE   the man page's date, YYYY-MM-DD (default: the last commit's, for reproducible output)
#   CONFIG_MODE   "keep" (default: an existing depot.toml is left as it is) or "replace" (a package's staging tree)
#
# The systemd search paths include /usr/local/lib/{systemd/system,sysusers.d,tmpfiles.d}
# (`systemd-analyze unit-paths`, `systemd-sysusers --cat-config`), so the /usr/local defaults
# are read without any link into /etc.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
action="${1:-}"

DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr/local}"
BINDIR="${BINDIR:-$PREFIX/bin}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-$PREFIX/lib/systemd/system}"
SYSUSERSDIR="${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}"
TMPFILESDIR="${TMPFILESDIR:-$PREFIX/lib/tmpfiles.d}"
DATADIR="${DATADIR:-$PREFIX/share}"
DOCDIR="${DOCDIR:-$DATADIR/doc/depot}"
MANDIR="${MANDIR:-$DATADIR/man}"
BASHCOMPDIR="${BASHCOMPDIR:-$DATADIR/bash-completion/completions}"
ZSHCOMPDIR="${ZSHCOMPDIR:-$DATADIR/zsh/site-functions}"
FISHCOMPDIR="${FISHCOMPDIR:-$DATADIR/fish/vendor_completions.d}"
CONFIG_MODE="${CONFIG_MODE:-keep}"

d() { printf '%s%s' "$DESTDIR" "$1"; }

# The docs, as they are in the repository (source → name under DOCDIR).
docs=(
  "README.md:README.md"
  "systemd/README.md:systemd.md"
  "docs/ARCHITECTURE.md:ARCHITECTURE.md"
  "docs/DECISIONS.md:DECISIONS.md"
  "docs/openapi.json:openapi.json"
  "config/depot.toml:examples/depot.toml"
)

install_files() {
  local binary="$1"
  [ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 66; }
  local generate="${GENERATE_MANUAL:-}"
  [ -n "$generate" ] && [ -x "$generate" ] || { echo "install.sh: GENERATE_MANUAL must name swift-argument-parser's generate-manual tool" >&2; exit 66; }

  install -d -m 0755 "$(d "$BINDIR")" "$(d "$UNITDIR")" "$(d "$SYSUSERSDIR")" "$(d "$TMPFILESDIR")" \
    "$(d "$SYSCONFDIR/depot")" "$(d "$SYSCONFDIR/depot/prompts")" "$(d "$DATADIR/depot/config")" "$(d "$DATADIR/depot/config/prompts")" "$(d "$DOCDIR/examples")" "$(d "$DOCDIR/schemas")" \
    "$(d "$MANDIR/man1")" "$(d "$BASHCOMPDIR")" "$(d "$ZSHCOMPDIR")" "$(d "$FISHCOMPDIR")"

  install -m 0755 "$binary" "$(d "$BINDIR/depot")"
  # The processors' executable, which depot starts from beside itself.
  local worker
  worker="$(dirname "$binary")/depot-worker"
  [ -x "$worker" ] || { echo "install.sh: $worker (the processors' executable, built with depot) is missing" >&2; exit 66; }
  install -m 0755 "$worker" "$(d "$BINDIR/depot-worker")"

  # The unit names the binary, the config and the docs by path: set them to where they are
  # installed. Every substitution must hit its line, or the unit would point at nothing.
  local unit
  unit="$(sed -e "s|^ExecStart=/usr/local/bin/depot |ExecStart=$BINDIR/depot |" \
              -e "s| --config /etc/depot/depot.toml$| --config $SYSCONFDIR/depot/depot.toml|" \
              -e "s|file:///usr/local/share/doc/depot/|file://$DOCDIR/|g" \
              "$here/systemd/depot.service")"
  grep -qx "ExecStart=$BINDIR/depot serve --config $SYSCONFDIR/depot/depot.toml" <<<"$unit" \
    || { echo "install.sh: systemd/depot.service has no ExecStart= line to rewrite" >&2; exit 70; }
  grep -q "^Documentation=.*file://$DOCDIR/" <<<"$unit" \
    || { echo "install.sh: systemd/depot.service has no Documentation= file to rewrite" >&2; exit 70; }
  printf '%s\n' "$unit" > "$(d "$UNITDIR/depot.service")"
  chmod 0644 "$(d "$UNITDIR/depot.service")"
  install -m 0644 "$here/systemd/depot.sysusers" "$(d "$SYSUSERSDIR/depot.conf")"
  install -m 0644 "$here/systemd/depot.tmpfiles" "$(d "$TMPFILESDIR/depot.conf")"

  # The config: an admin's edited file is never replaced (a package lets dpkg decide instead,
  # as a conffile).
  local config; config="$(d "$SYSCONFDIR/depot/depot.toml")"
  if [ "$CONFIG_MODE" = replace ] || [ ! -e "$config" ]; then
    install -m 0644 "$here/config/depot.toml" "$config"
  else
    echo "install.sh: kept the existing $SYSCONFDIR/depot/depot.toml (the new default is $DATADIR/depot/config/depot.toml)"
  fi

  # The generation prompt templates, read from prompts/ beside the config, to edit there: like
  # the config, an edited one is never replaced (the defaults are also in DATADIR).
  local template
  for template in "$here"/config/prompts/*.md; do
    local target; target="$(d "$SYSCONFDIR/depot/prompts/$(basename "$template")")"
    if [ "$CONFIG_MODE" = replace ] || [ ! -e "$target" ]; then install -m 0644 "$template" "$target"; fi
    install -m 0644 "$template" "$(d "$DATADIR/depot/config/prompts/$(basename "$template")")"
  done

  # What `depot init` copies from BINDIR/../share/depot: the documented config and the inbox's
  # example collections.
  install -m 0644 "$here/config/depot.toml" "$(d "$DATADIR/depot/config/depot.toml")"
  rm -rf "$(d "$DATADIR/depot/inbox-layout")"
  cp -R "$here/inbox-layout" "$(d "$DATADIR/depot/inbox-layout")"
  find "$(d "$DATADIR/depot/inbox-layout")" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +

  local entry
  for entry in "${docs[@]}"; do
    install -m 0644 "$here/${entry%%:*}" "$(d "$DOCDIR/${entry#*:}")"
  done
  install -m 0644 "$here"/docs/schemas/* "$(d "$DOCDIR/schemas/")"

  # The man page and the completions come from the binary's own argument parser, so they
  # describe exactly the commands and options of what is installed.
  local date="${MANUAL_DATE:-}"
  if [ -z "$date" ]; then
    date="$(git -C "$here" log -1 --format=%cs 2>/dev/null || date -u +%F)"
  fi
  local pages; pages="$(mktemp -d)"
  "$generate" "$binary" --date "$date" --output-directory "$pages"
  [ -s "$pages/depot.1" ] || { echo "install.sh: generate-manual wrote no depot.1" >&2; rm -rf "$pages"; exit 70; }
  install -m 0644 "$pages/depot.1" "$(d "$MANDIR/man1/depot.1")"
  rm -rf "$pages"
  # (bash-completion sources the file: the parser's #! line would only be noise.)
  "$binary" --generate-completion-script bash | sed '1{/^#!/d}' > "$(d "$BASHCOMPDIR/depot")"
  "$binary" --generate-completion-script zsh > "$(d "$ZSHCOMPDIR/_depot")"
  "$binary" --generate-completion-script fish > "$(d "$FISHCOMPDIR/depot.fish")"
  chmod 0644 "$(d "$BASHCOMPDIR/depot")" "$(d "$ZSHCOMPDIR/_depot")" "$(d "$FISHCOMPDIR/depot.fish")"
}

uninstall_files() {
  rm -f "$(d "$BINDIR/depot")" "$(d "$BINDIR/depot-worker")" "$(d "$UNITDIR/depot.service")" "$(d "$SYSUSERSDIR/depot.conf")" \
    "$(d "$TMPFILESDIR/depot.conf")" "$(d "$MANDIR/man1/depot.1")" "$(d "$MANDIR/man1/depot.1.gz")" \
    "$(d "$BASHCOMPDIR/depot")" "$(d "$ZSHCOMPDIR/_depot")" "$(d "$FISHCOMPDIR/depot.fish")"
  rm -rf "$(d "$DATADIR/depot")" "$(d "$DOCDIR")"
  echo "install.sh: left $SYSCONFDIR/depot/depot.toml, the depot user and the data under the depot root in place"
}

case "$action" in
  install) [ $# -eq 2 ] || { echo "usage: $0 install BINARY" >&2; exit 64; }; install_files "$2" ;;
  uninstall) uninstall_files ;;
  *) echo "usage: $0 install BINARY | uninstall" >&2; exit 64 ;;
esac
