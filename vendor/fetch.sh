#!/usr/bin/env bash
# vendor/fetch.sh OUTDIR [musl|asan|fuzz|debug]
#
# Fetches the Debian (trixie) source packages of mbedtls and cjson with a
# private apt configuration, verifies them against vendor/MANIFEST, unpacks
# them with dpkg-source (Debian patches applied) into OUTDIR/src/ and builds
# static libraries:
#
#   musl (default)  musl-gcc, hardened -Os        -> OUTDIR/{include,lib}
#   asan            gcc   -g -O1 ASan+UBSan       -> OUTDIR-asan/{include,lib}
#   fuzz            clang -g -O1 ASan+UBSan       -> OUTDIR-fuzz/{include,lib}
#   debug           gcc   -g -O1 (for valgrind)   -> OUTDIR-debug/{include,lib}
#
# lib/:     libmbedtls.a libmbedx509.a libmbedcrypto.a libcjson.a
# include/: mbedtls/ psa/ (mbedtls/mbedtls_config.h is OUR vendor config) cJSON.h
#
# Idempotent; downloads are cached in vendor/dl/ (git-ignored; delete it to
# pick up a newer archive version).  Prints one line per library (re)built,
# notes about accepted newer versions, and logs only when something fails.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [musl|asan|fuzz|debug]" >&2; exit 2; }
die() { echo "vendor/fetch.sh: $*" >&2; exit 1; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
MODE=${2:-musl}

VENDOR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST=$VENDOR/MANIFEST
CONFIG=$VENDOR/mbedtls_config.h
DL=$VENDOR/dl
mkdir -p "$1" "$DL"
OUT=$(cd "$1" && pwd)
SRC=$OUT/src

PKGS="musl-tools gcc ca-certificates dpkg-dev xz-utils bzip2 debian-archive-keyring"
HARDEN="-Os -ffunction-sections -fdata-sections -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE"
SAN="-g -O1 -fsanitize=address,undefined"
case $MODE in
    musl) DEST=$OUT;      CC=musl-gcc; CFLAGS="-std=c17 $HARDEN" ;;
    asan) DEST=$OUT-asan; CC=gcc;      CFLAGS="-std=c17 $SAN" ;;
    fuzz) DEST=$OUT-fuzz; CC=clang;    CFLAGS="-std=c17 $SAN"; PKGS="$PKGS clang" ;;
    debug) DEST=$OUT-debug; CC=gcc;    CFLAGS="-std=c17 -g -O1" ;;
    *) usage ;;
esac

TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

# run LOG CMD...: run quietly; on failure show the log and stop.
run() {
    local log=$TMPD/$1; shift
    if ! "$@" >"$log" 2>&1; then
        echo "vendor/fetch.sh: failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# ---- 1. tools -------------------------------------------------------------
need_tools() {
    local t
    for t in musl-gcc gcc dpkg-source make ar xz bzip2 flock "$CC"; do
        command -v "$t" >/dev/null 2>&1 || return 0
    done
    [ -s /etc/ssl/certs/ca-certificates.crt ] || return 0
    [ -s /usr/share/keyrings/debian-archive-keyring.gpg ] || return 0
    return 1
}
if need_tools; then
    [ "$(id -u)" = 0 ] || die "missing build tools; run as root or install: $PKGS"
    run apt-update apt-get update
    # shellcheck disable=SC2086
    run apt-install env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends $PKGS
    need_tools && die "tools still missing after apt-get install"
fi

# ---- MANIFEST -------------------------------------------------------------
# mf NAME KEY: value of "KEY: value" in the block whose "name:" is NAME.
mf() {
    awk -v n="$1" -v k="$2" '
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { cur = ""; next }
        { key = $0; sub(/:.*/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
          sub(/[ \t]+$/, "", val) }
        key == "name" { cur = val }
        cur == n && key == k { print val; found = 1; exit }
        END { if (!found) exit 1 }' "$MANIFEST" || die "MANIFEST: no '$2' for $1"
}

upstream_of() { local v=${1#*:}; echo "${v%-*}"; }   # strip epoch and revision
dsc_field() { sed -n "s/^$2: *//p" "$1" | head -n1; }
# sha256 of FILE as listed in the .dsc's Checksums-Sha256 section
dsc_sha256() {
    awk -v f="$2" '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 }
                   on && $3 == f { print $1 }' "$1"
}

# ---- 2./3. download (cached) and verify -----------------------------------
APTDIR=$DL/apt
APTOPTS=(
    -o "Dir::Etc::SourceList=$APTDIR/sources.list"
    -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
    -o "Dir::Etc::Preferences=$APTDIR/preferences"
    -o "Dir::Etc::PreferencesParts=$APTDIR/preferences.d"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::State::status=$APTDIR/status"
    -o "Dir::Cache=$APTDIR/cache"
    -o "Acquire::Languages=none"
    -q
)
apt_updated=
apt_private_update() {
    [ -n "$apt_updated" ] && return 0
    mkdir -p "$APTDIR"/{sources.list.d,preferences.d,lists/partial,cache/archives/partial,stage}
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $(mf mbedtls suite) main" \
        >"$APTDIR/sources.list"
    : >"$APTDIR/preferences"; : >"$APTDIR/status"
    if id _apt >/dev/null 2>&1; then    # let apt drop privileges for downloads
        chown _apt "$APTDIR/stage" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
    fi
    run apt-private-update apt-get "${APTOPTS[@]}" update
    apt_updated=1
}

# verify PKG DSC: check version line / pinned hash; echo nothing, die on error.
verify() {
    local pkg=$1 dsc=$2 ver up orig sum pin_deb pin_up
    ver=$(dsc_field "$dsc" Version); up=$(upstream_of "$ver")
    pin_deb=$(mf "$pkg" debian-version); pin_up=$(upstream_of "$pin_deb")
    # shellcheck disable=SC2053
    [[ $up == $(mf "$pkg" accept) ]] ||
        die "$pkg: archive version $ver is outside the accepted line '$(mf "$pkg" accept)'"
    orig=$(awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 }
                on && $3 ~ /\.orig\.tar\./ { print $3 }' "$dsc")
    if [ -z "$orig" ] || [ ! -f "$DL/$orig" ]; then die "$pkg: orig tarball missing for $dsc"; fi
    sum=$(sha256sum "$DL/$orig" | cut -d' ' -f1)
    [ "$sum" = "$(dsc_sha256 "$dsc" "$orig")" ] || die "$pkg: $orig does not match its .dsc"
    if [ "$up" = "$pin_up" ]; then
        [ "$orig" = "$(mf "$pkg" orig)" ] || die "$pkg: orig tarball name $orig != MANIFEST"
        [ "$sum" = "$(mf "$pkg" sha256)" ] || die "$pkg: $orig sha256 $sum != MANIFEST"
        [ "$ver" = "$pin_deb" ] ||
            echo "note: $pkg: Debian revision $ver (MANIFEST pins $pin_deb); upstream tarball matches the pin" >&2
    else
        echo "note: $pkg: archive has $ver (MANIFEST pins $pin_deb); accepted, sha256 $sum trusted from the signed Sources index" >&2
    fi
}

# fetch PKG: make sure a verified .dsc + files are in $DL; sets DSC.
fetch() {
    local pkg=$1 ok=$DL/$1.ok dsc f
    if [ -f "$ok" ]; then
        dsc=$DL/$(cut -d' ' -f2 "$ok")
        if [ -f "$dsc" ] && [ "$(sha256sum "$dsc" | cut -d' ' -f1)" = "$(cut -d' ' -f1 "$ok")" ] &&
            (verify "$pkg" "$dsc") >/dev/null 2>"$TMPD/notes-$pkg"; then
            cat "$TMPD/notes-$pkg" >&2     # keep showing pin notes on cached runs
            DSC=$dsc
            return 0
        fi
        rm -f "$ok"
    fi
    apt_private_update
    rm -rf "$APTDIR/stage"/*
    (cd "$APTDIR/stage" && run "source-$pkg" apt-get "${APTOPTS[@]}" source --download-only "$pkg")
    dsc=$(ls "$APTDIR/stage"/*.dsc) || die "$pkg: apt-get source gave no .dsc"
    [ "$(echo "$dsc" | wc -l)" = 1 ] || die "$pkg: several .dsc files downloaded"
    for f in "$APTDIR/stage"/*; do mv -f "$f" "$DL/"; done
    dsc=$DL/${dsc##*/}
    verify "$pkg" "$dsc"
    echo "$(sha256sum "$dsc" | cut -d' ' -f1) ${dsc##*/}" >"$ok"
    DSC=$dsc
}

# Local build-time patch (documented in MANIFEST): Mbed TLS <= 3.6.6 only uses
# the getrandom(2) syscall when __GLIBC__ is defined, so with musl it reads
# /dev/random and fails in an empty chroot.  Enable the syscall path on any
# Linux libc (upstream fix: Mbed-TLS/mbedtls PR 10945, 3.6 backport of
# TF-PSA-Crypto PR 843).  The glibc path is unchanged.
GLIBC_ONLY='#if ((defined(__linux__) && defined(__GLIBC__)) || defined(__midipix__))'
ANY_LINUX='#if (defined(__linux__) || defined(__midipix__)) /* interview: also musl */'
patch_mbedtls() {
    local f=$1/library/entropy_poll.c
    if grep -qxF "$GLIBC_ONLY" "$f"; then
        awk -v old="$GLIBC_ONLY" -v new="$ANY_LINUX" \
            '$0 == old { print new; n++; next } { print } END { exit n != 1 }' "$f" >"$f.new" ||
            die "mbedtls: getrandom patch did not apply"
        mv "$f.new" "$f"
    elif grep -q '__linux__.*__GLIBC__' "$f"; then
        die "mbedtls: entropy_poll.c getrandom detection changed; review the musl patch in fetch.sh"
    fi  # else: upstream already uses getrandom on musl
}
PATCHES_ID="getrandom-musl-1"

# unpack PKG DSC: dpkg-source -x into $SRC/PKG unless already there.
unpack() {
    local pkg=$1 dsc=$2 stamp
    stamp="$(sha256sum "$dsc" | cut -d' ' -f1) ${dsc##*/} $PATCHES_ID"
    [ -d "$SRC/$pkg" ] && [ "$(cat "$SRC/$pkg.stamp" 2>/dev/null)" = "$stamp" ] && return 0
    rm -rf "${SRC:?}/$pkg" "$SRC/$pkg.stamp" "$SRC/.tmp-$pkg"
    mkdir -p "$SRC"
    run "unpack-$pkg" dpkg-source --no-copy -x "$dsc" "$SRC/.tmp-$pkg"
    if [ "$pkg" = mbedtls ]; then patch_mbedtls "$SRC/.tmp-$pkg"; fi
    mv "$SRC/.tmp-$pkg" "$SRC/$pkg"
    echo "$stamp" >"$SRC/$pkg.stamp"
}

exec 9>"$DL/.lock"
flock 9             # serialise concurrent callers (e.g. musl and asan builds)
fetch mbedtls; unpack mbedtls "$DSC"
fetch cjson;   unpack cjson "$DSC"
flock -u 9

# ---- 4. build ---------------------------------------------------------------
# Object lists come from upstream's own library/Makefile, so a newer 3.6.x
# that adds files still builds completely.
MB=$SRC/mbedtls
printvars=$TMPD/print.mk
cat >"$printvars" <<'EOF'
print-vars:
	@echo "CRYPTO=$(OBJS_CRYPTO)"
	@echo "X509=$(OBJS_X509)"
	@echo "TLS=$(OBJS_TLS)"
	@echo "INC=$(THIRDPARTY_INCLUDES)"
EOF
run mbedtls-objs make --no-print-directory -s -C "$MB/library" -f Makefile -f "$printvars" print-vars
objvars=$(cat "$TMPD/mbedtls-objs")
objs() { sed -n "s/^$1=//p" <<<"$objvars"; }
for v in CRYPTO X509 TLS; do [ -n "$(objs $v)" ] || die "could not read OBJS_$v from mbedtls library/Makefile"; done

OBJ=$DEST/obj
mkdir -p "$OBJ" "$DEST/lib" "$DEST/include"
# Everything depends on this stamp: changing compiler, flags, sources or this
# script rebuilds from scratch.
{
    echo "$CC $CFLAGS"; "$CC" --version 2>&1 | head -n1
    cat "$SRC/mbedtls.stamp" "$SRC/cjson.stamp"
    sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1
} >"$TMPD/flags"
cmp -s "$TMPD/flags" "$OBJ/flags" || { rm -rf "$OBJ"; mkdir -p "$OBJ"; cp "$TMPD/flags" "$OBJ/flags"; }

# Source files: library/X.c or 3rdparty paths relative to library/.
srcs() { local o; for o in $(objs "$1"); do echo "$MB/library/${o%.o}.c"; done; }
{
    echo "CC := $CC"
    echo "CFLAGS := $CFLAGS"
    echo "MB := $MB"
    echo "CJ := $SRC/cjson"
    echo "D := $DEST"
    echo "O := $OBJ"
    echo "CONFIG := $CONFIG"
    inc=""; for i in $(objs INC); do inc="$inc -I$MB/library/${i#-I}"; done
    echo "MB_CPPFLAGS := -I\$(MB)/library -I\$(MB)/include$inc -DMBEDTLS_CONFIG_FILE='\"\$(CONFIG)\"'"
    for v in CRYPTO X509 TLS; do
        printf '%s_OBJS :=' "$v"
        # shellcheck disable=SC2016  # $(O) is a make variable
        for s in $(srcs $v); do printf ' $(O)/mbedtls/%s.o' "$(basename "${s%.c}")"; done
        echo
    done
    dirs=$(for v in CRYPTO X509 TLS; do srcs $v; done | xargs -n1 dirname | sort -u | tr '\n' ' ')
    echo "vpath %.c $dirs"
    cat <<'EOF'
MB_HDRS := $(patsubst $(MB)/include/%,$(D)/include/%,$(wildcard $(MB)/include/mbedtls/*.h $(MB)/include/psa/*.h))
HDRS := $(MB_HDRS) $(D)/include/mbedtls/mbedtls_config.h $(D)/include/cJSON.h
LIBS := $(D)/lib/libmbedcrypto.a $(D)/lib/libmbedx509.a $(D)/lib/libmbedtls.a $(D)/lib/libcjson.a

all: $(HDRS) $(LIBS)

$(O)/mbedtls/%.o: %.c $(O)/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MB_CPPFLAGS) -MMD -MP -c $< -o $@
$(O)/cjson/cJSON.o: $(CJ)/cJSON.c $(O)/flags
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(D)/lib/libmbedcrypto.a: $(CRYPTO_OBJS)
$(D)/lib/libmbedx509.a: $(X509_OBJS)
$(D)/lib/libmbedtls.a: $(TLS_OBJS)
$(D)/lib/libcjson.a: $(O)/cjson/cJSON.o
$(LIBS):
	@rm -f $@.tmp
	ar rcs $@.tmp $^
	@mv -f $@.tmp $@
	@echo "built $@"

$(D)/include/mbedtls/mbedtls_config.h: $(CONFIG)
	@mkdir -p $(@D)
	cp $< $@
$(D)/include/cJSON.h: $(CJ)/cJSON.h
	@mkdir -p $(@D)
	cp $< $@
$(D)/include/%.h: $(MB)/include/%.h
	@mkdir -p $(@D)
	cp $< $@

-include $(wildcard $(O)/*/*.d)
EOF
} >"$TMPD/Makefile"
cmp -s "$TMPD/Makefile" "$OBJ/Makefile" || cp "$TMPD/Makefile" "$OBJ/Makefile"

if ! make --no-print-directory -j2 -f "$OBJ/Makefile" all >"$TMPD/build" 2>&1; then
    echo "vendor/fetch.sh: $MODE build failed:" >&2
    cat "$TMPD/build" >&2
    exit 1
fi
sed -n 's/^built //p' "$TMPD/build" | sed "s|^|$MODE: built |"
