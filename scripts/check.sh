#!/usr/bin/env bash
# The whole test suite: lint, format, types, contract tests, Python tests.
# Every step runs; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PWD/.venv/bin:$PATH"

failed=()
step() {
    local name="$1"; shift
    printf '\n\033[1m==> %s\033[0m\n' "$name"
    if ! "$@"; then failed+=("$name"); fi
}

step "ruff check" ruff check .
step "ruff format" ruff format --check .
step "mypy --strict" mypy
step "forge test" bash scripts/forge_test.sh
step "pytest" pytest -q -p no:cacheprovider "$@"

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\n\033[31mfailed: %s\033[0m\n' "${failed[*]}"
    exit 1
fi
printf '\n\033[32mall checks passed\033[0m\n'
