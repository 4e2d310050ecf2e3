#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build script: builds every libFuzzer harness in
# fuzz/ with the variables the base-builder image provides ($CC $CXX $CFLAGS
# $CXXFLAGS $LIB_FUZZING_ENGINE $SRC $WORK $OUT; $SANITIZER only decides what
# the flags already contain: address, undefined, memory or coverage) and puts
# into $OUT, for each fuzz/fuzz_<name>.c:
#   fuzz_<name>                  the target
#   fuzz_<name>_seed_corpus.zip  fuzz/corpus/<name>/ + fuzz/regressions/<name>/
#   fuzz_<name>.dict             fuzz/<name>.dict, where one exists
# Line 1 of a harness ("// deps: src/...") names the sources it links, line 2
# ("// libs: mbedtls cjson") the third-party libraries, as for ./build.sh.
#
# Third-party code: mbedTLS and cJSON are built here with $CC $CFLAGS from the
# Debian source packages vendor/fetch.sh verified and unpacked (our
# vendor/mbedtls_config.h as the mbedTLS config). INTERVIEW_VENDOR_SRC names
# that unpacked tree (OUTDIR/src of fetch.sh: mbedtls/ and cjson/); the
# Dockerfile fetches it in a Debian stage, tests/fuzz_cflite.sh points it at
# build/vendor/src. Unset, fetch.sh is run here (needs Debian's apt).
#
# Run locally without Docker by tests/fuzz_cflite.sh.

# The repository: this script's parent when run from .clusterfuzzlite/,
# otherwise the working directory (the image's WORKDIR, where compile runs
# the copy in $SRC/build.sh).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -f "$here/../interview.c" ]; then ROOT=$(cd "$here/.." && pwd); else ROOT=$PWD; fi
[ -f "$ROOT/interview.c" ] || { echo "build.sh: cannot find the repository (interview.c)" >&2; exit 1; }

: "${CXX:=clang++}" "${CXXFLAGS:=$CFLAGS}"
# Our own C dialect and include root; no -Werror: a newer clang in the image
# must not break the fuzzing build over a new warning (./build.sh has -Werror).
OUR_CFLAGS="-std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-command-line-argument -I$ROOT/src"
JOBS=$(nproc 2>/dev/null || echo 2)

# ---- third-party libraries -------------------------------------------------
VSRC=${INTERVIEW_VENDOR_SRC:-}
if [ -z "$VSRC" ]; then
    "$ROOT/vendor/fetch.sh" "$WORK/vendor" debug >&2   # fetch + verify + unpack (and a plain build)
    VSRC=$WORK/vendor/src
fi
if [ ! -d "$VSRC/mbedtls/library" ] || [ ! -f "$VSRC/cjson/cJSON.c" ]; then
    echo "build.sh: no unpacked mbedtls/cjson under $VSRC" >&2; exit 1
fi

V=$WORK/interview-vendor        # lib/ and include/, as fetch.sh lays them out
rm -rf "$V"; mkdir -p "$V/lib" "$V/include"
cp -r "$VSRC/mbedtls" "$V/mbedtls-src"
cp "$ROOT/vendor/mbedtls_config.h" "$V/mbedtls-src/include/mbedtls/mbedtls_config.h"
# mbedTLS's own library Makefile (its object lists); CFLAGS on the command line
# replace its -O2 default, its warnings and include paths are kept.
make -s -C "$V/mbedtls-src/library" -j"$JOBS" CC="$CC" CFLAGS="$CFLAGS" static >&2
cp "$V"/mbedtls-src/library/lib{mbedtls,mbedx509,mbedcrypto}.a "$V/lib/"
cp -r "$V/mbedtls-src/include/mbedtls" "$V/mbedtls-src/include/psa" "$V/include/"
# shellcheck disable=SC2086  # flag lists
$CC $CFLAGS -std=c17 -c "$VSRC/cjson/cJSON.c" -o "$V/cJSON.o"
ar rcs "$V/lib/libcjson.a" "$V/cJSON.o"
cp "$VSRC/cjson/cJSON.h" "$V/include/"

# ---- harnesses ---------------------------------------------------------------
deps_of() { sed -n '1s#^// deps:##p' "$1"; }
libs_of() {
    local want; want=$(sed -n '2s#^// libs:##p' "$1")
    local flags=""
    case $want in *mbedtls*) flags="$flags -lmbedtls -lmbedx509 -lmbedcrypto" ;; esac
    case $want in *cjson*) flags="$flags -lcjson" ;; esac
    echo "-L$V/lib$flags -lm -lpthread"
}

# seed_zip NAME OUTZIP: the corpus and the regression inputs, flat.
seed_zip() {
    local files=() d
    for d in "$ROOT/fuzz/corpus/$1" "$ROOT/fuzz/regressions/$1"; do
        [ -d "$d" ] || continue
        while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$d" -type f -print0)
    done
    rm -f "$2"
    [ ${#files[@]} -gt 0 ] || return 0
    zip -q -j -X "$2" "${files[@]}"
}

built=0
for h in "$ROOT"/fuzz/fuzz_*.c; do
    target=$(basename "$h" .c)
    name=${target#fuzz_}
    obj=$WORK/obj-$target
    rm -rf "$obj"; mkdir -p "$obj"
    objs=()
    for s in "$h" $(deps_of "$h"); do
        case $s in /*) ;; *) s=$ROOT/$s ;; esac
        o=$obj/$(basename "$s" .c).o
        # shellcheck disable=SC2086  # flag lists
        $CC $CFLAGS $OUR_CFLAGS -I"$V/include" -c "$s" -o "$o"
        objs+=("$o")
    done
    # shellcheck disable=SC2086,SC2046  # flag lists
    $CXX $CXXFLAGS $LIB_FUZZING_ENGINE -o "$OUT/$target" "${objs[@]}" $(libs_of "$h")
    seed_zip "$name" "$OUT/${target}_seed_corpus.zip"
    if [ -f "$ROOT/fuzz/$name.dict" ]; then cp "$ROOT/fuzz/$name.dict" "$OUT/$target.dict"; fi
    built=$((built + 1))
done
echo "build.sh: $built targets in $OUT" >&2
