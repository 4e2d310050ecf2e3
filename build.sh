#!/usr/bin/env bash
# ./build.sh               build build/interview (static, stripped, musl)
# ./build.sh test          build everything and run every test; last line "N passed, N failed"
# ./build.sh fuzz [SECS]   run every libFuzzer harness SECS seconds (default 300), merge corpora
# ./build.sh asan          build build/interview-asan (glibc, ASan+UBSan) only
# Runs as root on a fresh Debian 12 machine: missing tools are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
B=$ROOT/build
mkdir -p "$B"

WARN="-std=c17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla -D_GNU_SOURCE"
HARDEN="-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
FUZZ_SECS_TEST=${FUZZ_SECS_TEST:-15}

log() { printf '[build] %s\n' "$*" >&2; }

apt_install() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    if [ ! -f "$B/.apt-updated" ]; then apt-get update -qq >&2 && touch "$B/.apt-updated"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build_tools() { apt_install musl-tools gcc binutils ca-certificates dpkg-dev xz-utils bzip2; }
test_tools() { apt_install clang libclang-rt-14-dev python3 python3-websockets procps coreutils openssl; }

# vendor/fetch.sh downloads, verifies and builds mbedTLS and cJSON (see vendor/README.md).
# It is incremental: a second run with nothing to do takes about a second.
vendor_libs() { "$ROOT/vendor/fetch.sh" "$B/vendor" ${1:-} >&2; } # $1: "" (musl release), asan or fuzz

ca_bundle() {
    mkdir -p "$B/gen"
    [ -f "$B/gen/ca_bundle.c" ] || "$ROOT/vendor/ca_bundle.sh" "$B/gen/ca_bundle.c"
}

LIBS="-lmbedtls -lmbedx509 -lmbedcrypto -lcjson"

# Debian's musl-gcc wrapper cannot link static-pie (its specs always request
# the dynamic loader), so we use a specs file of our own: same headers and
# libraries, musl's rcrt1.o (self-relocating start), no interpreter, no libc.so.
static_pie_specs() {
    local M=/usr/lib/x86_64-linux-musl
    cat >"$B/musl-static-pie.specs" <<EOF
%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem /usr/include/x86_64-linux-musl -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem /usr/include/x86_64-linux-musl -isystem include%s

*link_libgcc:
-L$M -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*startfile:
$M/rcrt1.o $M/crti.o crtbeginS.o%s

*endfile:
crtendS.o%s $M/crtn.o

*link:
-nostdlib -static -pie --no-dynamic-linker -z text
EOF
}

build_release() {
    build_tools
    vendor_libs ""
    ca_bundle
    local V=$B/vendor
    static_pie_specs
    gcc -specs="$B/musl-static-pie.specs" $WARN $HARDEN -Os -ffunction-sections -fdata-sections \
        -I"$V/include" -Wl,--gc-sections -Wl,-z,relro,-z,now -s \
        -o "$B/interview" interview.c "$B/gen/ca_bundle.c" -L"$V/lib" $LIBS -lm -lpthread
    log "built build/interview ($(stat -c %s "$B/interview") bytes)"
}

build_asan() {
    build_tools
    vendor_libs asan
    ca_bundle
    local V=$B/vendor-asan
    gcc $WARN -g -O1 $SAN -I"$V/include" -o "$B/interview-asan" interview.c "$B/gen/ca_bundle.c" \
        -L"$V/lib" $LIBS -lm -lpthread
    log "built build/interview-asan"
}

deps_of() { sed -n '1s#^// deps:##p' "$1"; }
# Line 2 "// libs: cjson mbedtls" links the third-party libraries built for $2 (asan or fuzz).
libs_of() {
    local want; want=$(sed -n '2s#^// libs:##p' "$1")
    [ -n "$want" ] || return 0
    local V=$B/vendor-$2
    local flags="-I$V/include -L$V/lib"
    case $want in *mbedtls*) flags="$flags -lmbedtls -lmbedx509 -lmbedcrypto" ;; esac
    case $want in *cjson*) flags="$flags -lcjson" ;; esac
    echo "$flags -lm -lpthread"
}

# ---- test ------------------------------------------------------------------
PASS=0
FAIL=0
tally() { # reads "…: N passed, M failed" lines from a log file
    local p f
    p=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1 | awk '{print $1}')
    f=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1 | awk '{print $3}')
    PASS=$((PASS + ${p:-0}))
    FAIL=$((FAIL + ${f:-1}))
}
result() { # $1 name, $2 0/1
    if [ "$2" = 0 ]; then PASS=$((PASS + 1)); echo "ok   $1"; else FAIL=$((FAIL + 1)); echo "FAIL $1"; fi
}

run_unit() {
    mkdir -p "$B/unit"
    for t in tests/unit/test_*.c; do
        local name; name=$(basename "$t" .c)
        if ! gcc $WARN -g -O1 $SAN -Isrc -Itests/unit -I"$B/vendor-asan/include" -o "$B/unit/$name" \
            "$t" $(deps_of "$t") $(libs_of "$t" asan) >"$B/unit/$name.log" 2>&1; then
            cat "$B/unit/$name.log"; result "$name (compile)" 1; continue
        fi
        "$B/unit/$name" >"$B/unit/$name.log" 2>&1 || true
        grep -E 'FAIL|passed' "$B/unit/$name.log" | tail -20
        tally "$B/unit/$name.log"
    done
}

build_fuzzers() {
    vendor_libs fuzz
    mkdir -p "$B/fuzz"
    for h in fuzz/fuzz_*.c; do
        local name; name=$(basename "$h" .c)
        clang $WARN -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
            -Isrc -I"$B/vendor-fuzz/include" -o "$B/fuzz/$name" "$h" $(deps_of "$h") $(libs_of "$h" fuzz)
    done
}

run_fuzz() { # $1 seconds per harness; corpora are copied, then merged back when $2 = merge
    local secs=$1 merge=${2:-}
    for f in "$B"/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        local name=${f##*/fuzz_}
        local work="$B/fuzz/corpus-$name"
        rm -rf "$work"; mkdir -p "$work" "fuzz/corpus/$name"
        cp -r "fuzz/corpus/$name/." "$work/" 2>/dev/null || true
        local regress=(); [ -d "fuzz/regressions/$name" ] && regress=("fuzz/regressions/$name")
        local dict=(); [ -f "fuzz/$name.dict" ] && dict=("-dict=fuzz/$name.dict")
        if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$B/fuzz/$name-" "${dict[@]}" "$work" "${regress[@]}" \
            >"$B/fuzz/$name.log" 2>&1; then
            result "fuzz $name ${secs}s ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$B/fuzz/$name.log" | grep -Eo '[0-9]+$') runs)" 0
        else
            tail -30 "$B/fuzz/$name.log"; result "fuzz $name" 1
        fi
        if [ "$merge" = merge ]; then
            local merged="$B/fuzz/merged-$name"; rm -rf "$merged"; mkdir -p "$merged"
            "$f" -merge=1 "$merged" "$work" >/dev/null 2>&1 && rm -rf "fuzz/corpus/$name" &&
                cp -r "$merged" "fuzz/corpus/$name"
        fi
    done
}

run_integ() { # $1 binary, $2 label
    for t in tests/integ/test_*.py; do
        local name; name=$(basename "$t" .py)
        INTERVIEW_BIN=$1 timeout 900 /usr/bin/python3 "$t" >"$B/$name-$2.log" 2>&1 || true
        grep -E '^(FAIL|ok|measure)|passed' "$B/$name-$2.log" | sed "s/^/[$2] /"
        tally "$B/$name-$2.log"
    done
}

cmd_test() {
    build_release
    test_tools
    build_asan
    echo "== binary"
    local st=0
    readelf -lW "$B/interview" | grep -q 'INTERP' && st=1
    readelf -dW "$B/interview" 2>/dev/null | grep -q 'NEEDED' && st=1
    result "build/interview is static (no interpreter, no shared library)" $st
    echo "== unit tests (ASan+UBSan)"
    run_unit
    echo "== fuzz harnesses (${FUZZ_SECS_TEST}s each, ASan+UBSan)"
    build_fuzzers
    run_fuzz "$FUZZ_SECS_TEST"
    echo "== mock OpenAI self-test"
    timeout 120 /usr/bin/python3 tests/test_mock_openai.py >"$B/mock.log" 2>&1 || true
    grep -E '^FAIL|passed' "$B/mock.log"
    tally "$B/mock.log"
    echo "== integration tests (release binary)"
    run_integ "$B/interview" release
    INTERVIEW_BIN=$B/interview timeout 120 /usr/bin/python3 tests/integ/static_chroot.py >"$B/chroot.log" 2>&1 || true
    grep -E '^(FAIL|ok)|passed' "$B/chroot.log" | sed 's/^/[chroot] /'
    tally "$B/chroot.log"
    echo "== integration tests (ASan+UBSan binary)"
    INTERVIEW_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 run_integ "$B/interview-asan" asan
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]
}

case "${1:-build}" in
build) build_release ;;
asan) build_asan ;;
test) cmd_test ;;
fuzz)
    test_tools
    build_fuzzers
    PASS=0 FAIL=0
    run_fuzz "${2:-300}" merge
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]
    ;;
*) sed -n '2,6p' "$0"; exit 2 ;;
esac
