#!/usr/bin/env bash
# Run the Solidity tests (unit, fuzz and invariant) under contracts/test with forge,
# compiling with the pinned solcjs through contracts/tools/solc, without network access.
#
#   scripts/forge_test.sh                       # everything
#   scripts/forge_test.sh --match-contract Pool # any extra arguments go to `forge test`
#   scripts/forge_test.sh --fuzz-seed 0x1234    # explore other inputs than the pinned seed
#
# Exits non-zero when compilation fails or any test fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
forge="$repo/node_modules/.bin/forge"
solc="$repo/contracts/tools/solc"

if [[ ! -x "$forge" ]]; then
    echo "forge_test: $forge is missing; run npm install in $repo" >&2
    exit 1
fi
if [[ ! -f "$repo/node_modules/@openzeppelin/contracts/package.json" ]]; then
    echo "forge_test: @openzeppelin/contracts is missing; run npm install in $repo" >&2
    exit 1
fi

cd "$repo/contracts"
"$forge" test --root "$repo/contracts" --use "$solc" --offline "$@"
