#!/usr/bin/env bash
# Builds the fuzz targets (the frame decoder, and the handshake as a stranger
# plays it against both sides) with libFuzzer's coverage
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
for fuzzer in frame_decoder handshake; do
  mkdir -p "corpus/$fuzzer" artifacts
  log="artifacts/$fuzzer.log"
  "target/$target/release/$fuzzer" \
    -max_total_time="${FUZZ_SECONDS:-30}" -seed=1 \
    -artifact_prefix=artifacts/ "corpus/$fuzzer" 2>"$log" || { tail -40 "$log"; exit 1; }
  # libFuzzer's last line: "Done N runs in T second(s)".
  echo "$fuzzer: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1)"
done
