#!/usr/bin/env bash
# A newcomer copies examples/ring-election to start their own protocol.
# This proves the copy builds outside the workspace, against this checkout,
# offline, and that its binary checks its protocol and finds the seeded bug.
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$checkout/examples/ring-election" "$work/my-protocol"
cd "$work/my-protocol"
# The two path dependencies point at this checkout, as the guide says.
sed -i "s#path = \"../../crates/#path = \"$checkout/crates/#" Cargo.toml
grep -q "$checkout/crates/prophet-cli" Cargo.toml
# The workspace's lock file pins the same versions, all in the local cache.
cp "$checkout/Cargo.lock" .
# Share compiled dependencies with the workspace's debug build where the
# profiles agree (the copy has no [profile] of its own).
export CARGO_TARGET_DIR="${COPY_CHECK_TARGET_DIR:-$work/target}"
cargo build --offline --quiet
bin="$CARGO_TARGET_DIR/debug/ring-election"
"$bin" list | grep -q '^ring-election '
set +e
"$bin" check ring-election -p variant=forward-all > check.out
status=$?
set -e
if [ "$status" -ne 1 ]; then
    echo "copy-check: expected exit 1 (a violation), got $status" >&2
    cat check.out >&2
    exit 1
fi
grep -q 'VIOLATION of invariant "the leader has the largest uid"' check.out
grep -q 'counterexample (5 steps)' check.out
echo "copy-check: the example builds outside the workspace and finds its seeded bug"
