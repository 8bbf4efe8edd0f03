#!/usr/bin/env bash
# Builds the frame-decoder fuzz target with libFuzzer's coverage
# instrumentation on the stable toolchain (no cargo-fuzz, no nightly: the
# sanitizer-coverage flags cargo-fuzz passes are stable codegen options) and
# runs it for FUZZ_SECONDS (default 30). A crash or a failed assertion in the
# target exits non-zero and leaves the input in fuzz/artifacts/.
#
#   fuzz/smoke.sh            # what CI runs
#   FUZZ_SECONDS=600 fuzz/smoke.sh
set -euo pipefail
cd "$(dirname "$0")"
target=x86_64-unknown-linux-gnu
# RUSTFLAGS apply to the target crates only (an explicit --target keeps them
# off build scripts and proc macros).
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  -Cdebug-assertions" \
  cargo build --release --locked --target "$target" --target-dir target
mkdir -p corpus/frame_decoder artifacts
"target/$target/release/frame_decoder" \
  -max_total_time="${FUZZ_SECONDS:-30}" -seed=1 \
  -artifact_prefix=artifacts/ corpus/frame_decoder
