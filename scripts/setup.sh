#!/usr/bin/env bash
# Install everything the project needs (idempotent), then run one job:
#   bash scripts/setup.sh demo   - bring up the devnet and the service, run cross-chain swaps
#   bash scripts/setup.sh test   - the whole test suite: ruff, mypy --strict, forge, pytest
#   bash scripts/setup.sh        - install only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOB="${1:-install}"
shift || true

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- system packages (only what is missing) ---------------------------------
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v git >/dev/null || missing+=(git)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    apt_install "${missing[@]}"
fi

# --- Python ----------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    log "creating the virtual environment"
    python3 -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml examples/*/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    log "installing Python dependencies"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    for example in examples/*/; do
        [ -f "$example/pyproject.toml" ] && .venv/bin/python -m pip install -q -e "$example"
    done
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# --- npm toolchain (anvil, forge, solc) -------------------------------------
lock_hash="$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "node_modules/.installed-$lock_hash" ]; then
    log "installing the npm toolchain"
    npm ci --no-audit --no-fund --loglevel=error
    touch "node_modules/.installed-$lock_hash"
fi

case "$JOB" in
    install) log "installed" ;;
    demo) exec .venv/bin/aggregator demo "$@" ;;
    test) exec bash scripts/check.sh "$@" ;;
    *) echo "unknown job: $JOB (expected demo, test or nothing)" >&2; exit 2 ;;
esac
