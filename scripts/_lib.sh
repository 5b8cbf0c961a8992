# Shared helpers for scripts/*; sourced, not run.
# shellcheck shell=bash
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DOCKLORD_VENV:-$ROOT/.venv}
PY=$VENV/bin/python

# Every line says how long the outermost script has run (minutes:seconds), so that a log of
# ./scripts/test shows where its time goes.
DOCKLORD_T0=${DOCKLORD_T0:-$(date +%s)}
export DOCKLORD_T0
say() {
  local t=$(($(date +%s) - DOCKLORD_T0))
  printf '[docklord %d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*" >&2
}
die() { printf '[docklord] error: %s\n' "$*" >&2; exit 1; }

# apt_install PKG... : installs Debian packages that are missing (root on Debian only).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "missing packages: ${missing[*]} (install them, or run as root on Debian)"
  say "installing ${missing[*]}"
  if [ ! -f /var/tmp/docklord-apt-updated ]; then
    apt-get update -qq >&2 && touch /var/tmp/docklord-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# ensure_venv: creates .venv and installs the package with pinned dependencies, once per change
# of pyproject.toml or constraints.txt.
ensure_venv() {
  local want stamp=$VENV/.docklord-stamp
  want=$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)
  if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  command -v python3 >/dev/null || die "python3 (3.11+) is needed"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 must be 3.11 or newer"
  [ -x "$PY" ] || python3 -m venv "$VENV" >&2 || { apt_install python3-venv; python3 -m venv "$VENV" >&2; }
  say "installing Python dependencies into $VENV"
  "$PY" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[dev]" >&2
  echo "$want" > "$stamp"
}

# ensure_ui: installs Node.js and npm if missing, and builds the browser UI (frontend/ into
# docklord/web/_ui/) once per change of the front-end sources or lock file. `npm ci` installs
# exactly the committed package-lock.json from the npm registry.
ensure_ui() {
  local want stamp=$ROOT/frontend/node_modules/.docklord-ui-stamp
  command -v npm >/dev/null || apt_install nodejs npm
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)' \
    || die "the UI build (Vite 8) needs Node.js 20.19+ or 22.12+, this is $(node --version); Debian 12 ships 18: install a newer Node.js (e.g. Debian 13's, or NodeSource's)"
  want=$(cd "$ROOT/frontend" && find package.json package-lock.json .npmrc tsconfig.json biome.json \
    vite.config.ts ./*.html src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$ROOT/docklord/web/_ui/index.html" ]; then
    return 0
  fi
  say "building the browser UI (frontend/ -> docklord/web/_ui/)"
  (cd "$ROOT/frontend" && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent build >&2)
  echo "$want" > "$stamp"
}
