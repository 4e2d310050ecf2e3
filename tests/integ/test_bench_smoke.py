"""Smoke test of the benchmark load generator (tests/bench/loadgen.c) against
the binary: each mode runs a second or two and must produce its numbers
(nothing about time is asserted), plus a check that the ping / audio_chunk fast
path (src/fastmsg.c) answers byte-for-byte like the general cJSON path."""
import asyncio
import json
import os
import subprocess
import sys
import tempfile

import websockets

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import Server, check, finish  # noqa: E402


def loadgen(exe, srv, mode, *args):
    r = subprocess.run([exe, mode, "-p", str(srv.port), "-P", str(srv.proc.pid), *map(str, args)],
                       capture_output=True, text=True, timeout=120)
    lines = [l[5:] for l in r.stdout.splitlines() if l.startswith("JSON ")]
    print(r.stdout.strip().splitlines()[0] if r.stdout.strip() else r.stderr.strip()[:300], flush=True)
    return json.loads(lines[-1]) if r.returncode == 0 and lines else None


async def fast_vs_general(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/smoke", max_size=None) as ws:
        json.loads(await ws.recv())  # greeting
        samples = [0, 1200, -3000, 65535, 32768, -32768, 777]
        out = []
        # fast path; then the same samples the general path must take (1.0 is
        # not in the fast subset, an extra key neither): the replies must match
        for msg in ({"type": "audio_chunk", "data": samples},
                    '{"type":"audio_chunk","data":[0.0,1200,-3000,65535,32768,-32768,777]}',
                    {"type": "ping"}, {"type": "ping", "extra": 1}):
            await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
            out.append(json.loads(await ws.recv()))
        check("fast and general paths give the same amplitude", out[0]["value"] == out[1]["value"] and
              list(out[0]) == list(out[1]) == ["type", "value", "timestamp"], out[:2])
        check("fast and general paths give the same pong", list(out[2]) == list(out[3]) == ["type", "timestamp"]
              and out[2]["type"] == out[3]["type"] == "pong", out[2:])
        # the fast path still refuses what the general path refuses
        await ws.send('{"type":"audio_chunk","data":[1,2,65536]}')
        err = json.loads(await ws.recv())
        check("out-of-range sample still refused with INVALID_AUDIO", err.get("code") == "INVALID_AUDIO", err)


def main():
    tmp = tempfile.mkdtemp()
    exe = os.path.join(tmp, "loadgen")
    r = subprocess.run(["gcc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-o", exe,
                        os.path.join(ROOT, "tests/bench/loadgen.c"), "-lm"], capture_output=True, text=True)
    if not check("loadgen builds", r.returncode == 0, r.stderr[-500:]):
        finish()
    mock = MockOpenAI(cert_dir=tmp).start()
    try:
        mock.configure({"delays": {"stt_ms": 20, "first_token_ms": 20, "token_ms": 5, "tts_first_byte_ms": 20}})
        # flat-out load from one address: the limits raised out of reach, as bench.py does
        env = {"OPENAI_API_KEY": mock.api_key, "OPENAI_BASE_URL": mock.base_url, "WS_MESSAGES_PER_SEC": "1000000",
               "WS_MESSAGES_BURST": "1000000", "WS_BYTES_PER_SEC": "1g", "WS_BYTES_BURST": "1g",
               "MAX_WEBSOCKETS_PER_IP": "1000000", "MAX_CONNECTIONS_PER_IP": "1000000",
               "AI_TURNS_PER_MINUTE_PER_IP": "100000"}
        if mock.https:
            env["SSL_CERT_FILE"] = mock.ca
        with Server(**env) as srv:
            asyncio.run(fast_vs_general(srv.port))
            r = loadgen(exe, srv, "conns", "-n", 200)
            check("loadgen conns", r and r["held"] == 200 and r["rss_kb"] > 0, r)
            r = loadgen(exe, srv, "pingpong", "-c", 10, "-k", 4, "-d", 1)
            check("loadgen pingpong", r and r["count"] > 0 and r["errors"] == 0 and r["p50_ms"] > 0, r)
            r = loadgen(exe, srv, "audio", "-F", "-c", 5, "-k", 2, "-d", 1, "-R", 50)
            check("loadgen audio flat out", r and r["count"] > 0 and r["errors"] == 0, r)
            r = loadgen(exe, srv, "audio", "-c", 20, "-d", 1)
            check("loadgen audio real time", r and r["count"] > 0 and r["errors"] == 0, r)
            r = loadgen(exe, srv, "turn", "-c", 2, "-r", 1)
            check("loadgen turn", r and r["count"] == 2 and r["turns_failed"] == 0 and r["p50_ms"] > 0, r)
    finally:
        mock.stop()
    finish()


if __name__ == "__main__":
    main()
