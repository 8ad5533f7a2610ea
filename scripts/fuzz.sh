#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a bounded time each, starting from the corpus kept
# in fuzz/corpus/<target>/.
#
#   bash scripts/fuzz.sh            # 20 seconds per target (what scripts/test.sh runs)
#   bash scripts/fuzz.sh 600        # ten minutes per target: the longer run
#   bash scripts/fuzz.sh 600 directory   # one target
#
# cargo-fuzz is installed into target/tools on first use. It drives libFuzzer, which needs
# nightly-only compiler flags: RUSTC_BOOTSTRAP=1 allows them on the machine's stable toolchain.
# No sanitizer is used (-s none): the crates forbid unsafe code, so the coverage guidance is what
# matters, and the build stays quick.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-20}"
only="${2:-}"
tools="$PWD/target/tools"
if ! test -x "$tools/bin/cargo-fuzz"; then
    # A debug build of the tool: it only drives the build and libFuzzer, and compiles in half the time.
    cargo install cargo-fuzz --version 0.13.2 --locked --debug --root "$tools" >&2
fi
export RUSTC_BOOTSTRAP=1
# A short run (scripts/test.sh's) builds the targets without optimisation: the build, not the
# fuzzing, was most of its time (about 8 of 10 minutes on the 2-core machine in a slow hour).
profile=--release
if test "$seconds" -lt 60; then
    profile=--dev
fi
export CARGO_TARGET_DIR="$PWD/target/fuzz"
cd fuzz
for target in event_line ingest_body query_string page_token directory; do
    if test -n "$only" && test "$only" != "$target"; then
        continue
    fi
    printf '\n--> fuzzing %s for %ss\n' "$target" "$seconds" >&2
    mkdir -p "corpus/$target"
    # New inputs go to target/fuzz/new-corpus (the committed seeds are only read), so a run leaves
    # the repository clean and a later run on this machine starts from what earlier ones learnt.
    new="$CARGO_TARGET_DIR/new-corpus/$target"
    log="$CARGO_TARGET_DIR/$target.log"
    mkdir -p "$new"
    if ! "$tools/bin/cargo-fuzz" run -s none "$profile" "$target" "$new" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 80 "$log" >&2
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/ (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 $tools/bin/cargo-fuzz run -s none $target fuzz/artifacts/$target/<file>)" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$log" >&2 || true
done
