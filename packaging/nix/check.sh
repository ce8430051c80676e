#!/usr/bin/env bash
# Offline checks of flake.nix (docs/nix.md): it parses, and `nix flake check --no-build` evaluates
# every output for every system against the stub inputs in packaging/nix/stubs (nothing is fetched or built).
# Exit 0 with a message when nix is not installed: this is a check of what can be checked here.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
if ! command -v nix >/dev/null 2>&1; then
    echo "packaging/nix/check.sh: nix is not installed; flake checks SKIPPED" >&2
    exit 0
fi
nx=(nix --extra-experimental-features "nix-command flakes")
stubs="$repo/packaging/nix/stubs"
nix-instantiate --parse "$repo/flake.nix" >/dev/null
for stub in "$stubs"/*/flake.nix; do nix-instantiate --parse "$stub" >/dev/null; done
echo "flake.nix and the stubs parse"
# The flake is read from git (tracked files only), so the check sees what a user would fetch.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# flake.lock must lock every input and follows of flake.nix as it stands: nix would otherwise want to
# rewrite it (and, offline, fail trying to fetch the new input).
if ! "${nx[@]}" flake metadata --no-write-lock-file "git+file://$repo" >"$log" 2>&1 \
    || grep -q "not writing modified lock file" "$log"; then
    cat "$log" >&2
    echo "flake.lock does not match flake.nix: run 'nix flake lock' on a connected machine" >&2
    exit 1
fi
echo "flake.lock locks every input of flake.nix"
if ! "${nx[@]}" flake check --no-build --no-write-lock-file \
    --override-input nixpkgs "path:$stubs/nixpkgs" \
    --override-input pyproject-nix "path:$stubs/pyproject-nix" \
    --override-input uv2nix "path:$stubs/uv2nix" \
    --override-input pyproject-build-systems "path:$stubs/build-system-pkgs" \
    "git+file://$repo" >"$log" 2>&1; then
    cat "$log" >&2
    echo "nix flake check --no-build against the stubs FAILED" >&2
    exit 1
fi
echo "nix flake check --no-build: every output evaluates against the stubs (x86_64-linux, aarch64-linux)"
