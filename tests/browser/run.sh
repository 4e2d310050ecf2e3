#!/usr/bin/env bash
# Browser tests of the two embedded pages in headless Chromium (playwright-core,
# the system /usr/bin/chromium; no browser download).
#   tests/browser/run.sh build/interview
# Starts tests/mock_openai.py (HTTPS, throwaway CA) and the binary on free ports
# (one as configured, one with INTERVIEW_AUTH_TOKEN, one with a long
# VAD_SILENCE_DURATION for the "I'm done" button), composes the fake
# microphones (espeak-ng phrases, pauses and silence; played once, from the
# moment the page opens the microphone), runs tests/browser/test_pages.mjs.
# Screenshots, the WAVs and logs go to build/artifacts/.
# Last line: "N passed, N failed"; exit status non-zero on any failure.
set -euo pipefail

BIN=${1:?usage: tests/browser/run.sh path/to/interview}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/browser
BIN=$(realpath "$BIN")
ART=$ROOT/build/artifacts
mkdir -p "$ART"
[ -x "$BIN" ] || { echo "FAIL browser: $BIN is not an executable" >&2; echo "0 passed, 1 failed"; exit 1; }

# ---- tools -------------------------------------------------------------------
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    [ "$(id -u)" = 0 ] || { echo "FAIL browser: missing ${need[*]} and not root" >&2; echo "0 passed, 1 failed"; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "FAIL browser: playwright-core needs Node.js >= 20, found $(node --version)"; echo "0 passed, 1 failed"; exit 1
fi
want=$(node -p 'require(process.argv[1]).dependencies["playwright-core"]' "$HERE/package.json")
have=$(node -p 'try { require(process.argv[1]).version } catch { "" }' "$HERE/node_modules/playwright-core/package.json")
if [ "$have" != "$want" ]; then
    echo "== npm install (playwright-core, no browser download)"
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-package-lock \
        --loglevel=error >/dev/null)
fi

# ---- scratch, cleanup ---------------------------------------------------------
TMP=$(mktemp -d /tmp/interview-browser.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- fake microphones: 16-bit 48 kHz mono, each played once (%noloop) ----------
# Chromium plays the file from the moment a page opens the microphone, then
# silence; the silences below line up the speech with the mock's replies.
phrase() {   # phrase NAME TEXT: espeak-ng speech, its own leading/trailing silence trimmed
    espeak-ng -s 150 -w "$TMP/raw.wav" "$2"
    sox "$TMP/raw.wav" -r 48000 -c 1 -b 16 -e signed-integer "$TMP/$1.wav" \
        silence 1 0.02 1% reverse silence 1 0.02 1% reverse
}
gap() { sox -n -r 48000 -c 1 -b 16 -e signed-integer "$TMP/gap-$1.wav" trim 0 "$1"; }
ms() { /usr/bin/python3 -c 'import sys; print(round(sum(float(x) for x in sys.argv[1:]) * 1000))' "$@"; }
dur() { soxi -D "$TMP/$1.wav"; }
# The answer: after the opening line (short and fast with the default mock) the
# candidate speaks three phrases with 0.5 s pauses (longer than TRANSCRIBE_PAUSE,
# shorter than VAD_SILENCE_DURATION: segments, not the end), then is silent.
phrase a1 "I have five years of experience"
phrase a2 "building distributed systems"
phrase a3 "mostly in Go and C"
gap 3.5; gap 0.5; gap 8
WAV=$TMP/answer.wav
sox "$TMP/gap-3.5.wav" "$TMP/a1.wav" "$TMP/gap-0.5.wav" "$TMP/a2.wav" "$TMP/gap-0.5.wav" "$TMP/a3.wav" \
    "$TMP/gap-8.wav" "$WAV"
export FAKE_MIC_SPEECH_START_MS=3500
FAKE_MIC_SPEECH_END_MS=$(ms 3.5 "$(dur a1)" 0.5 "$(dur a2)" 0.5 "$(dur a3)")
export FAKE_MIC_SPEECH_END_MS
# Barge-in: the candidate starts talking 2.5 s in, while the (long, slowly
# generated) opening line still plays, and goes on into an answer.
phrase b1 "Sorry to cut in, I know this one"
phrase b2 "it was a database failover at night"
gap 2.5
BARGE_WAV=$TMP/barge.wav
sox "$TMP/gap-2.5.wav" "$TMP/b1.wav" "$TMP/gap-0.5.wav" "$TMP/b2.wav" "$TMP/gap-8.wav" "$BARGE_WAV"
export BARGE_SPEECH_START_MS=2500
cp "$WAV" "$ART/fake_mic.wav"
cp "$BARGE_WAV" "$ART/fake_mic_barge.wav"

# ---- mock OpenAI -----------------------------------------------------------------
export MOCK_OPENAI_API_KEY=sk-browser-test-$RANDOM$RANDOM
/usr/bin/python3 "$ROOT/tests/mock_openai.py" --port 0 --cert-dir "$TMP/certs" \
    >"$TMP/mock.json" 2>"$ART/browser-mock.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$TMP/mock.json" ] && break; sleep 0.1; done
[ -s "$TMP/mock.json" ] || { echo "FAIL browser: mock did not start" >&2; cat "$ART/browser-mock.log" >&2; echo "0 passed, 1 failed"; exit 1; }
mock_field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$TMP/mock.json" "$1"; }
MOCK_PORT=$(mock_field port)
MOCK_CA=$(mock_field ca)
MOCK_BASE=$(mock_field base_url)

# ---- the binary -----------------------------------------------------------------------
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1 PORT=$PORT OPENAI_API_KEY=$MOCK_OPENAI_API_KEY OPENAI_BASE_URL=$MOCK_BASE SSL_CERT_FILE=$MOCK_CA \
    "$BIN" >"$ART/browser-server.log" 2>&1 &
PIDS+=($!)
wait_healthy() {   # wait_healthy PORT LOG
    local _
    for _ in $(seq 1 100); do
        if /usr/bin/python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$1/health" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "FAIL browser: server on port $1 not healthy" >&2; tail -20 "$2" >&2; echo "0 passed, 1 failed"; exit 1
}
wait_healthy "$PORT" "$ART/browser-server.log"

# ---- tests -----------------------------------------------------------------------------
# A second server with INTERVIEW_AUTH_TOKEN: the pages pass the token from their #fragment.
export AUTH_TOKEN=browser-token-$RANDOM$RANDOM$RANDOM
TPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1 PORT=$TPORT INTERVIEW_AUTH_TOKEN=$AUTH_TOKEN OPENAI_API_KEY=$MOCK_OPENAI_API_KEY \
    OPENAI_BASE_URL=$MOCK_BASE SSL_CERT_FILE=$MOCK_CA "$BIN" >"$ART/browser-server-token.log" 2>&1 &
PIDS+=($!)
export TOKEN_URL=http://127.0.0.1:$TPORT
# A third with a silence longer than the answer's pauses and the test's wait:
# only the "I'm done" button can end the answer there.
MPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1 PORT=$MPORT VAD_SILENCE_DURATION=6s OPENAI_API_KEY=$MOCK_OPENAI_API_KEY \
    OPENAI_BASE_URL=$MOCK_BASE SSL_CERT_FILE=$MOCK_CA "$BIN" >"$ART/browser-server-manual.log" 2>&1 &
PIDS+=($!)
export MANUAL_URL=http://127.0.0.1:$MPORT
wait_healthy "$TPORT" "$ART/browser-server-token.log"
wait_healthy "$MPORT" "$ART/browser-server-manual.log"

export INTERVIEW_URL=http://127.0.0.1:$PORT
export MOCK_URL=https://127.0.0.1:$MOCK_PORT
export NODE_EXTRA_CA_CERTS=$MOCK_CA
export FAKE_MIC_WAV=$WAV
export BARGE_MIC_WAV=$BARGE_WAV
export ARTIFACTS_DIR=$ART
rc=0
timeout 260 node "$HERE/test_pages.mjs" || rc=$?
if [ $rc = 124 ]; then echo "FAIL browser: test_pages.mjs killed after 260 s"; echo "0 passed, 1 failed"; fi
exit $rc
