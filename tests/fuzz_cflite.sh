#!/usr/bin/env bash
# tests/fuzz_cflite.sh: runs .clusterfuzzlite/build.sh the way ClusterFuzzLite's
# base-builder image runs it, without Docker: CC/CXX=clang, CFLAGS as OSS-Fuzz's
# `compile` composes them for each sanitizer, LIB_FUZZING_ENGINE=-fsanitize=fuzzer,
# SRC/WORK/OUT fresh temporary folders (the script is copied to $SRC/build.sh and
# run from the repository, the image's WORKDIR). Then, per sanitizer:
#   - every fuzz/fuzz_*.c must have produced $OUT/<name>, its seed corpus zip,
#     and $OUT/<name>.dict where fuzz/<name>.dict exists (a missing one fails);
#   - address, undefined: each target runs FUZZ_CFLITE_RUNS (default 3000)
#     mutations on its unpacked seed corpus, with its dictionary, as
#     ClusterFuzzLite would; coverage: each target replays its seed corpus.
# Prints ok/FAIL lines and ends "N passed, M failed".
# FUZZ_CFLITE_SANITIZERS (default "address undefined coverage") picks flavours;
# FUZZ_CFLITE_KEEP=1 keeps the temporary folders.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RUNS=${FUZZ_CFLITE_RUNS:-3000}
SANITIZERS=${FUZZ_CFLITE_SANITIZERS:-address undefined coverage}
PASS=0 FAIL=0
result() { # $1 0/1, $2 text
    if [ "$1" = 0 ]; then PASS=$((PASS + 1)); echo "ok   $2"; else FAIL=$((FAIL + 1)); echo "FAIL $2"; fi
}

# OSS-Fuzz's base-builder values (infra/base-images/base-builder/Dockerfile,
# `compile`): CFLAGS = base flags + SANITIZER_FLAGS_<s> + COVERAGE_FLAGS(_<s>).
OSS_BASE="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
UB_CHECKS="array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound,vptr"
san_flags() {
    case $1 in
    address) echo "-fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link" ;;
    undefined) echo "-fsanitize=$UB_CHECKS,unsigned-integer-overflow -fno-sanitize-recover=$UB_CHECKS -fsanitize=fuzzer-no-link" ;;
    coverage) echo "-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument" ;;
    esac
}
# The runtime options ClusterFuzz sets (unsigned overflow is often intended).
export UBSAN_OPTIONS=print_stacktrace=1:print_summary=1:silence_unsigned_overflow=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

# The unpacked Debian sources of mbedTLS and cJSON (fetch.sh is incremental:
# about a second when ./build.sh has already fetched them).
if ! vendor/fetch.sh "$ROOT/build/vendor" fuzz >/tmp/fuzz_cflite_vendor.$$ 2>&1; then
    cat /tmp/fuzz_cflite_vendor.$$; rm -f /tmp/fuzz_cflite_vendor.$$
    result 1 "vendor/fetch.sh fuzz"; echo "$PASS passed, $FAIL failed"; exit 1
fi
rm -f /tmp/fuzz_cflite_vendor.$$
export INTERVIEW_VENDOR_SRC=$ROOT/build/vendor/src

TMP=$(mktemp -d /tmp/fuzz_cflite.XXXXXX)
[ "${FUZZ_CFLITE_KEEP:-}" = 1 ] || trap 'rm -rf "$TMP"' EXIT
harnesses=(fuzz/fuzz_*.c)

for san in $SANITIZERS; do
    export SANITIZER=$san SRC=$TMP/$san/src WORK=$TMP/$san/work OUT=$TMP/$san/out
    mkdir -p "$SRC" "$WORK" "$OUT"
    ln -s "$ROOT" "$SRC/interview"
    cp .clusterfuzzlite/build.sh "$SRC/build.sh"
    export CC=clang CXX=clang++ LIB_FUZZING_ENGINE=-fsanitize=fuzzer
    CFLAGS="$OSS_BASE $(san_flags "$san")"
    export CFLAGS CXXFLAGS=$CFLAGS
    t0=$(date +%s)
    if (cd "$SRC/interview" && bash -eu "$SRC/build.sh") >"$TMP/$san-build.log" 2>&1; then
        result 0 "[$san] .clusterfuzzlite/build.sh ($(($(date +%s) - t0)) s)"
    else
        tail -40 "$TMP/$san-build.log"; result 1 "[$san] .clusterfuzzlite/build.sh"
    fi
    for h in "${harnesses[@]}"; do
        target=$(basename "$h" .c) name=${target#fuzz_}
        missing=""
        [ -x "$OUT/$target" ] || missing="$missing $target"
        [ -f "$OUT/${target}_seed_corpus.zip" ] || missing="$missing ${target}_seed_corpus.zip"
        if [ -f "fuzz/$name.dict" ] && [ ! -f "$OUT/$target.dict" ]; then missing="$missing $target.dict"; fi
        if [ -n "$missing" ]; then result 1 "[$san] $target: missing from \$OUT:$missing"; continue; fi
        seeds=$WORK/seeds-$target
        rm -rf "$seeds"; mkdir -p "$seeds"
        unzip -q -o "$OUT/${target}_seed_corpus.zip" -d "$seeds"
        n=$(find "$seeds" -type f | wc -l)
        dict=(); [ -f "$OUT/$target.dict" ] && dict=("-dict=$OUT/$target.dict")
        log=$WORK/$target.log
        if [ "$san" = coverage ]; then  # the coverage build replays, as in ClusterFuzzLite's coverage mode
            if (cd "$WORK" && LLVM_PROFILE_FILE="$WORK/$target.profraw" "$OUT/$target" -runs=0 "$seeds") >"$log" 2>&1 &&
                [ -s "$WORK/$target.profraw" ]; then
                result 0 "[$san] $target: $n seeds replayed, profile written"
            else
                tail -20 "$log"; result 1 "[$san] $target: replay"
            fi
            continue
        fi
        # -runs counts the seed replay too; the mutations come on top of it.
        if (cd "$WORK" && "$OUT/$target" -runs=$((n + RUNS)) -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
            -artifact_prefix="$WORK/$target-" "${dict[@]}" "$seeds") >"$log" 2>&1; then
            execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
            result 0 "[$san] $target: ${execs:-?} executions on $n seeds${dict:+ + dict}"
        else
            tail -30 "$log"
            result 1 "[$san] $target: crashed (artifact under $WORK; FUZZ_CFLITE_KEEP=1 keeps it)"
        fi
    done
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
