#!/usr/bin/env python3
"""Benchmark driver, run by `./build.sh bench` (BENCH_QUICK=1 for a short run).
Starts each server (ours and the peers) pinned to core 0, the load generator on
core 1, runs every mode, and writes build/bench/results.json, results.md and
PNG plots (gnuplot). Figures are printed, never asserted.
Usage: bench.py BUILD_DIR"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
OUT = os.path.join(B, "bench")
LOADGEN = os.path.join(OUT, "loadgen")
QUICK = os.environ.get("BENCH_QUICK") == "1"
# The peers have no rate limits and the load generator opens every connection
# from 127.0.0.1: ours are raised out of reach (not switched off, so their
# buckets are still evaluated on every message and counted in the figures).
LIMITS_HIGH = {"WS_MESSAGES_PER_SEC": "1000000", "WS_MESSAGES_BURST": "1000000", "WS_BYTES_PER_SEC": "1g",
               "WS_BYTES_BURST": "1g", "MAX_WEBSOCKETS_PER_IP": "1000000", "AI_TURNS_PER_MINUTE": "100000",
               "MAX_CONNECTIONS_PER_IP": "1000000", "AI_TURNS_PER_MINUTE_PER_IP": "100000"}
ONLY = [s for s in os.environ.get("BENCH_SERVERS", "").split(",") if s]
PORT = 18300 + os.getpid() % 500
STARTUPS = {}  # server -> start-up times of every start in the run (ms)
TURN_DELAYS = {"stt_ms": 200, "first_token_ms": 150, "token_ms": 20, "tts_first_byte_ms": 100}
# BENCH_SCRAPE_S=1: a Prometheus-like scraper GETs ours' /metrics every second during every run
# (RESULTS.md "Scraping /metrics" compares the figures with and without it).
SCRAPE_S = float(os.environ.get("BENCH_SCRAPE_S", "0") or 0)
SCRAPES = {"count": 0, "bytes": 0, "max_ms": 0.0}


def scraper(port, stop):
    while not stop.wait(SCRAPE_S):
        t = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                n = len(r.read())
        except OSError:
            continue
        SCRAPES["count"] += 1
        SCRAPES["bytes"] = n
        SCRAPES["max_ms"] = max(SCRAPES["max_ms"], (time.monotonic() - t) * 1000)
# The answer modes (turn detection, issue 13): speech-to-text time grows with
# the audio, S = stt_ms + stt_per_audio_s_ms * seconds, so transcribing while
# the candidate speaks shows in the figures.
ANSWER_DELAYS = dict(TURN_DELAYS, stt_per_audio_s_ms=50)
VAD_SILENCE_MS, TRANSCRIBE_PAUSE_MS = 700, 300  # the server's defaults (README Configuration)
ANSWER_S = 20
LISTEN_MS = 2000  # the candidate hears the opening question out (else the answer interrupts it)
# end of speech -> first reply audio, one row per way of ending and transcribing the answer
ANSWER_MODES = [("client", "client mode: send_for_AI_processing with the last word, one transcription (today)"),
                ("clientinc", "client mode + incremental_transcription"),
                ("vadwhole", "server_vad, incremental_transcription false: one transcription"),
                ("vad", "server_vad (incremental by default)")]
# many speaking clients: the upstream limits are raised so every client can
# have its segment's transcription in flight (default 256 in flight, 16 kept)
MEMORY_ENV = {"UPSTREAM_MAX_INFLIGHT": "2048", "UPSTREAM_POOL_SIZE": "128"}  # the in-flight cap: 500 openings at once need 1,000; a kept connection per segment upload in flight
MODES = [m for m in os.environ.get("BENCH_MODES", "").split(",") if m]  # traffic,conns,turn,answer,memory


def servers():
    s = {
        "ours": {"cmd": [os.path.join(B, "interview")], "env": {"HOST": "127.0.0.1", "LOG_LEVEL": "warn", **LIMITS_HIGH},
                 "turn_env": {"UPSTREAM_POOL_SIZE": "256"},  # keep a connection per concurrent request
                 "portenv": "PORT", "turn": True},
        "libwebsockets": {"cmd": [os.path.join(OUT, "lws_peer")], "turn": False},
        "node-ws": {"cmd": ["node", os.path.join(ROOT, "tests/bench/peers/node_peer.mjs")], "turn": True},
        "fastapi": {"cmd": ["/usr/bin/python3", os.path.join(ROOT, "tests/bench/peers/fastapi_peer.py")],
                    "turn": True},
    }
    return {k: v for k, v in s.items() if not ONLY or k in ONLY}


def log(*a):
    print("[bench]", *a, flush=True)


def handshake_ok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
            c.sendall(b"GET /ws/probe HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      b"Origin: http://127.0.0.1\r\n\r\n")
            return c.recv(64).startswith(b"HTTP/1.1 101")
    except OSError:
        return False


class Server:
    def __init__(self, name, spec, extra_env=None):
        self.name, self.spec = name, spec
        self.port = PORT
        env = dict(os.environ, **spec.get("env", {}), **(extra_env or {}))
        cmd = list(spec["cmd"])
        if "portenv" in spec:
            env[spec["portenv"]] = str(self.port)
        else:
            cmd.append(str(self.port))
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(["taskset", "-c", "0"] + cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(OUT, f"{name}.log"), "ab"))
        deadline = time.monotonic() + 20
        while not handshake_ok(self.port):
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.002)
        self.startup_ms = (time.monotonic() - self.t0) * 1000
        STARTUPS.setdefault(name, []).append(self.startup_ms)
        self.scrape_stop = threading.Event()
        if SCRAPE_S > 0 and name == "ours":
            threading.Thread(target=scraper, args=(self.port, self.scrape_stop), daemon=True).start()
        time.sleep(0.2)

    def stop(self):
        self.scrape_stop.set()
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        time.sleep(0.3)


def loadgen(srv, mode, *args):
    cmd = ["taskset", "-c", "1", LOADGEN, mode, "-p", str(srv.port), "-P", str(srv.p.pid), *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    for line in r.stdout.splitlines():
        if not line.startswith("JSON "):
            log(f"{srv.name:14s}", line)
    js = [l[5:] for l in r.stdout.splitlines() if l.startswith("JSON ")]
    if not js:
        log(srv.name, mode, "loadgen failed:", r.stderr.strip()[:300])
        return None
    return json.loads(js[-1])


def with_server(name, spec, fn, extra_env=None):
    try:
        srv = Server(name, spec, extra_env)
    except RuntimeError as e:
        log(e)
        return None
    try:
        return fn(srv)
    finally:
        srv.stop()


# ---- modes -----------------------------------------------------------------

def run_conns(name, spec, res):
    ns = [500, 2000] if QUICK else [1000, 5000, 10000]
    for n in ns:
        r = with_server(name, spec, lambda s: loadgen(s, "conns", "-n", n))
        if r:
            res.setdefault("conns", {}).setdefault(name, []).append(r)


def run_traffic(name, spec, res):
    d = 2 if QUICK else 5

    def body(s):
        out = {"pingpong": loadgen(s, "pingpong", "-c", 100, "-k", 10, "-d", d),
               "audio_flat": loadgen(s, "audio", "-F", "-c", 50, "-k", 4, "-d", d, "-R", 200)}
        for c in ([10, 1000] if QUICK else [10, 1000]):
            out[f"pingpong_c{c}"] = loadgen(s, "pingpong", "-c", c, "-k", 10, "-d", 2 if QUICK else 3)
        return out
    out = with_server(name, spec, body) or {}
    for k, v in out.items():
        if v:
            res.setdefault(k, {})[name] = v
    # real time on a fresh server: the flat-out run leaves sessions' audio behind
    r = with_server(name, spec, lambda s: loadgen(s, "audio", "-c", 200 if QUICK else 1000,
                                                    "-d", 4 if QUICK else 8))
    if r:
        res.setdefault("audio_rt", {})[name] = r


def mock_start(tmp):
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests/mock_openai.py"), "--port", "0",
                          "--cert-dir", tmp], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    info = json.loads(p.stdout.readline())
    return p, info


def mock_call(info, path, body=None):
    url = info["base_url"].rsplit("/v1", 1)[0] + "/_mock/" + path
    import ssl
    ctx = ssl.create_default_context(cafile=info["ca"])
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def run_turn(name, spec, res):
    if not spec.get("turn"):
        return
    tmp = tempfile.mkdtemp()
    mp, info = mock_start(tmp)
    try:
        key = "sk-test-mock-0123456789"
        env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": info["base_url"], "SSL_CERT_FILE": info["ca"],
               "NODE_EXTRA_CA_CERTS": info["ca"], "MOCK_CA": info["ca"]}
        for m in ([1, 20] if QUICK else [1, 100]):
            mock_call(info, "reset", {})
            mock_call(info, "config", {"delays": TURN_DELAYS})
            before = mock_call(info, "stats").get("handshakes", 0)
            r = with_server(name, spec, lambda s: loadgen(s, "turn", "-c", m, "-r", 3),
                            dict(env, **spec.get("turn_env", {})))
            if not r:
                continue
            # our own control calls to the mock are TLS handshakes too: the
            # one that fetched `before` is counted in it, this one is not
            hs = mock_call(info, "stats").get("handshakes", 0) - before - 1
            r["upstream_handshakes"] = hs
            r["handshakes_per_turn"] = round(hs / max(1, r["count"]), 3)
            res.setdefault(f"turn_m{m}", {})[name] = r
    finally:
        mp.terminate()
        mp.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def with_mock(fn):
    tmp = tempfile.mkdtemp()
    mp, info = mock_start(tmp)
    try:
        env = {"OPENAI_API_KEY": "sk-test-mock-0123456789", "OPENAI_BASE_URL": info["base_url"],
               "SSL_CERT_FILE": info["ca"]}
        return fn(info, env)
    finally:
        mp.terminate()
        mp.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def stt_ms(samples):
    return ANSWER_DELAYS["stt_ms"] + ANSWER_DELAYS["stt_per_audio_s_ms"] * samples / 16000


def answer_bounds(amode, stt):
    """The bound from what the mock was sent: the last transcription's audio
    (the whole answer, or the last segment) gives S; silence counts when the
    server ends the answer. With server_vad and segments, the last segment
    goes to speech-to-text when the pause reaches TRANSCRIBE_PAUSE, so its S
    overlaps the rest of the silence: the pipeline's own floor is lower."""
    lb = turn_lower_bound_ms()
    d = ANSWER_DELAYS
    fkt = d["first_token_ms"] + lb["k"] * d["token_ms"] + d["tts_first_byte_ms"]
    if amode in ("clientinc", "vad"):  # the last segment carries the longest prompt (all earlier text)
        top = max(len((r.get("fields") or {}).get("prompt") or "") for r in stt)
        last = [r["samples"] for r in stt if len((r.get("fields") or {}).get("prompt") or "") == top]
    else:
        last = [r["samples"] for r in stt]
    samples = sorted(set(last))
    s = stt_ms(max(samples))
    silence = VAD_SILENCE_MS if amode.startswith("vad") else 0
    out = {"last_stt_samples": samples, "S_ms": round(s, 1), "FkT_ms": fkt, "silence_ms": silence,
           "bound_ms": round(silence + s + fkt, 1), "stt_requests": len(stt)}
    if amode == "vad":
        out["floor_ms"] = round(max(VAD_SILENCE_MS, TRANSCRIBE_PAUSE_MS + s) + fkt, 1)
    return out


def run_answer(name, spec, res):
    """End of speech -> first reply audio for a 20 s answer with pauses, in
    real time, each way of ending and transcribing the answer."""
    if name != "ours":
        return
    clients = 1 if QUICK else 3
    modes = [m for m in ANSWER_MODES if not QUICK or m[0] in ("vadwhole", "vad")]

    def body(info, env):
        for amode, _ in modes:
            mock_call(info, "reset", {})
            mock_call(info, "config", {"delays": ANSWER_DELAYS})
            # staggered so no two answers end within one reply's time
            r = with_server(name, spec, lambda s: loadgen(s, "answer", "-c", clients, "-a", ANSWER_S, "-m", amode,
                                                          "-x", 1, "-S", 3000, "-L", LISTEN_MS), dict(env, **spec.get("turn_env", {})))
            if not r:
                continue
            stt = [x for x in mock_call(info, "requests") if x.get("endpoint") == "transcriptions"]
            r.update(answer_bounds(amode, stt))
            res.setdefault("answer_latency", {})[amode] = r
    with_mock(body)


def run_memory(name, spec, res):
    """Server RSS while many clients each speak a long answer with pauses
    (server_vad, segments transcribed as they close), faster than real time."""
    if name != "ours":
        return
    # Real time, as people speak: faster-than-real-time audio piles up segments
    # waiting for speech-to-text, which no real interview does.
    n, secs, speed = (100, 60, 1) if QUICK else (500, 300, 1)
    if os.environ.get("BENCH_MEMORY"):  # e.g. 500x60: clients x seconds of answer
        n, secs = (int(x) for x in os.environ["BENCH_MEMORY"].split("x"))

    def body(info, env):
        mock_call(info, "reset", {})
        mock_call(info, "config", {"delays": ANSWER_DELAYS})
        r = with_server(name, spec, lambda s: loadgen(s, "answer", "-c", n, "-a", secs, "-m", "vad", "-x", speed,
                                                  "-L", LISTEN_MS, "-S", 4000 // n),
                        dict(env, **MEMORY_ENV))
        if r:
            st = mock_call(info, "stats")
            r["mock_stats"] = st
            res["answer_memory"] = r
    with_mock(body)


def run_vadcost(name, spec, res):
    """The VAD's CPU per audio_chunk alone (tests/bench/vadcost.c, -Os as the
    release), beside the whole audio_chunk path's CPU per chunk (audio flat out)."""
    if name != "ours":
        return
    exe = os.path.join(OUT, "vadcost")
    r = subprocess.run(["gcc", "-std=c17", "-Os", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "src"), "-o", exe,
                        os.path.join(ROOT, "tests/bench/vadcost.c"), os.path.join(ROOT, "src/parse/vad.c"), "-lm"],
                       capture_output=True, text=True)
    if r.returncode:
        log("vadcost did not build:", r.stderr[:300])
        return
    r = subprocess.run(["taskset", "-c", "1", exe], capture_output=True, text=True, timeout=300)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("JSON "):
            j = json.loads(line[5:])
            out[j["signal"]] = j["us_per_chunk"]
        else:
            log(f"{name:14s}", line)
    res["vad_us_per_chunk"] = out


def turn_lower_bound_ms():
    reply = ("That's a great start. Can you tell me about a time you handled a production outage? "
             "What did you learn from it?")  # the mock's default reply
    first = reply.split(".")[0] + "."
    k = len(first.split())
    d = TURN_DELAYS
    whole = len(reply.split())
    return {"k": k, "streamed": d["stt_ms"] + d["first_token_ms"] + k * d["token_ms"] + d["tts_first_byte_ms"],
            "whole_reply": d["stt_ms"] + d["first_token_ms"] + (whole - 1) * d["token_ms"] + d["tts_first_byte_ms"]}


# ---- output ----------------------------------------------------------------

def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def table(res, key, cols, better_high):
    rows = res.get(key, {})
    if not rows:
        return ""
    ours = rows.get("ours", {})
    hdr = "| server | " + " | ".join(c[1] for c in cols) + " | ours vs it |\n"
    hdr += "|---" * (len(cols) + 2) + "|\n"
    main = cols[0][0]
    for name, r in rows.items():
        cells = []
        for k, _, fmt in cols:
            v = r.get(k)
            cells.append(fmt.format(v) if v is not None else "-")
        if name == "ours":
            rat = ""
        elif better_high:
            rat = ratio(ours.get(main), r.get(main))
        else:
            rat = ratio(r.get(main), ours.get(main))
        hdr += f"| {name} | " + " | ".join(cells) + f" | {rat} |\n"
    return hdr


def markdown(res):
    md = []
    md.append("### pingpong (100 connections x 10 in flight)\n")
    md.append(table(res, "pingpong", [("per_cpu_s", "msgs / server-CPU-s", "{:,.0f}"),
                                      ("per_s", "msgs/s (wall)", "{:,.0f}"), ("cpu_frac", "server CPU", "{:.2f}"),
                                      ("p50_ms", "p50 ms", "{:.2f}"), ("p99_ms", "p99 ms", "{:.2f}"),
                                      ("p999_ms", "p99.9 ms", "{:.2f}")], True))
    for c in (10, 1000):
        md.append(f"\n### pingpong ({c} connections x 10 in flight)\n")
        md.append(table(res, f"pingpong_c{c}", [("per_cpu_s", "msgs / server-CPU-s", "{:,.0f}"),
                                                ("per_s", "msgs/s (wall)", "{:,.0f}"),
                                                ("p50_ms", "p50 ms", "{:.2f}"), ("p99_ms", "p99 ms", "{:.2f}")],
                        True))
    md.append("\n### audio flat out (50 connections x 4 chunks in flight, 1024 samples each)\n")
    md.append(table(res, "audio_flat", [("per_cpu_s", "chunks / server-CPU-s", "{:,.0f}"),
                                        ("per_s", "chunks/s (wall)", "{:,.0f}"), ("p50_ms", "p50 ms", "{:.2f}"),
                                        ("p99_ms", "p99 ms", "{:.2f}")], True))
    n_rt = next(iter(res.get("audio_rt", {}).values()), {}).get("conns", "?")
    md.append(f"\n### audio real time ({n_rt} clients, one chunk every 64 ms each)\n")
    md.append(table(res, "audio_rt", [("per_cpu_s", "chunks / server-CPU-s", "{:,.0f}"),
                                      ("cpu_frac", "server CPU (cores)", "{:.3f}"),
                                      ("p50_ms", "p50 ms", "{:.2f}"), ("p99_ms", "p99 ms", "{:.2f}"),
                                      ("p999_ms", "p99.9 ms", "{:.2f}"), ("behind", "clients behind", "{}"),
                                      ("closed", "closed", "{}")], True))
    md.append("\n### idle connections\n")
    md.append("| server | N | held | RSS / conn (bytes) | fds / conn | handshakes / server-CPU-s |\n"
              "|---|---|---|---|---|---|\n")
    for name, rs in res.get("conns", {}).items():
        for r in rs:
            md.append(f"| {name} | {r['n']} | {r['held']} | {r['rss_per_conn_b']:,.0f} | {r['fds_per_conn']:.2f} | "
                      f"{r['hs_per_cpu_s']:,.0f} |\n")
    lb = res.get("turn_lower_bound_ms", {})
    for key in sorted(k for k in res if k.startswith("turn_m")):
        md.append(f"\n### turn, {key[6:]} concurrent (3 turns each; mock delays {TURN_DELAYS})\n\n"
                  f"Lower bound to the first audio byte: streamed pipeline S+F+k*t+T = {lb.get('streamed')} ms "
                  f"(k = {lb.get('k')}); whole reply first (the seed's design) {lb.get('whole_reply')} ms.\n\n")
        md.append(table(res, key, [("p50_ms", "first audio p50 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"),
                                   ("warm_p50_ms", "rounds 2-3 p50 ms", "{:.1f}"),
                                   ("warm_p99_ms", "rounds 2-3 p99 ms", "{:.1f}"),
                                   ("per_s", "turns/s", "{:.2f}"), ("count", "turns ok", "{}"),
                                   ("turns_failed", "failed", "{}"),
                                   ("handshakes_per_turn", "upstream TLS handshakes / turn", "{}")], False))
    al = res.get("answer_latency", {})
    if al:
        md.append(f"\n### end of speech -> first reply audio, {ANSWER_S} s answer with pauses, real time (ours; mock "
                  f"delays {ANSWER_DELAYS})\n\n"
                  "Bound = silence (server_vad) + S(audio of the last transcription) + F + k*t + T, S from the "
                  "samples the mock received; floor (server_vad with segments) = max(silence, TRANSCRIBE_PAUSE + "
                  "S(last segment)) + F + k*t + T, because the last segment is sent at the pause.\n\n"
                  "| mode | answers | p50 ms | min-max ms | S ms (audio s) | bound ms | measured - bound | floor ms |"
                  " partials |\n|---|---|---|---|---|---|---|---|---|\n")
        labels = dict(ANSWER_MODES)
        for amode, r in al.items():
            secs = max(r["last_stt_samples"]) / 16000
            md.append(f"| {labels.get(amode, amode)} | {r['n']} | {r['p50_ms']:.1f} | {r['min_ms']:.1f}-"
                      f"{r['max_ms']:.1f} | {r['S_ms']:.0f} ({secs:.2f} s) | {r['bound_ms']:.0f} | "
                      f"{r['p50_ms'] - r['bound_ms']:+.1f} | {r.get('floor_ms', '-')} | {r['partials']} |\n")
    m = res.get("answer_memory")
    if m:
        md.append(f"\n### memory: {m['opened']} clients each speaking a {m['answer_s']:.0f} s answer with pauses "
                  f"(server_vad, segments), {m['speed']:.0f}x real time\n\n"
                  "| RSS idle | after the openings | peak while all speak (- idle) | peak (- idle; at s) | end | "
                  "replies ok | partials | answers ended early | server CPU s |\n|---|---|---|---|---|---|---|---|---|\n"
                  f"| {m['rss0_kb']:,} kB | {m['rss_started_kb']:,} kB | {m['rss_speech_peak_kb']:,} kB "
                  f"({(m['rss_speech_peak_kb'] - m['rss0_kb']) / 1024:.1f} MiB) | {m['rss_peak_kb']:,} kB "
                  f"({(m['rss_peak_kb'] - m['rss0_kb']) / 1024:.1f} MiB; {m['rss_peak_at_s']:.0f} s) | "
                  f"{m['rss_end_kb']:,} kB | {m['turns_ok']} | "
                  f"{m['partials']} | {m['early']} | {m['server_cpu_s']:.1f} |\n")
    v = res.get("vad_us_per_chunk")
    if v:
        md.append("\n### VAD CPU per 1024-sample chunk, alone (tests/bench/vadcost.c, -Os)\n\n| signal | us |\n"
                  "|---|---|\n" + "".join(f"| {k} | {x:.3f} |\n" for k, x in v.items()))
    md.append("\n### start-up (exec to first WebSocket handshake answered, median and best of every start in "
              "the run)\n\n| server | median ms | best ms |\n|---|---|---|\n")
    for name, v in res.get("startup_ms", {}).items():
        md.append(f"| {name} | {v:.1f} | {res['startup_ms_min'][name]:.1f} |\n")
    return "".join(md)


def targets(res):
    """The issue's targets against this run: (target, measured, met)."""
    rows = []
    g = lambda *k: _get(res, *k)
    c10k = [r for r in res.get("conns", {}).get("ours", []) if r["n"] >= 10000]
    if c10k:
        r = c10k[-1]
        rows.append(("10,000 idle connections held, <= 4096 B RSS each",
                     f"{r['held']} held, {r['rss_per_conn_b']:,.0f} B each",
                     r["held"] >= 10000 and r["rss_per_conn_b"] <= 4096))
    o, l = g("pingpong", "ours"), g("pingpong", "libwebsockets")
    if o and l:
        x = o["per_cpu_s"] / l["per_cpu_s"]
        rows.append(("pingpong >= 3x libwebsockets per server-CPU-s", f"{x:.2f}x ({o['per_cpu_s']:,.0f} vs "
                     f"{l['per_cpu_s']:,.0f})", x >= 3))
    if o:
        rows.append(("pingpong p99 <= 2x p50", f"p50 {o['p50_ms']:.2f} ms, p99 {o['p99_ms']:.2f} ms "
                     f"({o['p99_ms'] / max(o['p50_ms'], 1e-9):.1f}x)", o["p99_ms"] <= 2 * o["p50_ms"]))
    o, l = g("audio_flat", "ours"), g("audio_flat", "libwebsockets")
    if o and l:
        x = o["per_cpu_s"] / l["per_cpu_s"]
        rows.append(("audio flat out >= 4x libwebsockets per server-CPU-s", f"{x:.2f}x ({o['per_cpu_s']:,.0f} vs "
                     f"{l['per_cpu_s']:,.0f})", x >= 4))
    o = g("audio_rt", "ours")
    if o:
        rows.append((f"audio real time, {o['conns']} clients: none behind, p99 < 5 ms, < 0.25 core",
                     f"{o['behind']} behind, p99 {o['p99_ms']:.2f} ms, {o['cpu_frac']:.3f} core",
                     o["conns"] >= 1000 and o["behind"] == 0 and o["p99_ms"] < 5 and o["cpu_frac"] < 0.25))
    lb = res.get("turn_lower_bound_ms", {}).get("streamed")
    for key in sorted(k for k in res if k.startswith("turn_m")):
        o = g(key, "ours")
        if o and lb:
            rows.append((f"turn, {key[6:]} at once: first audio within 10 ms of {lb} ms (p50)",
                         f"p50 {o['p50_ms']:.1f} ms (p99 {o['p99_ms']:.1f}); rounds 2-3 p50 {o['warm_p50_ms']:.1f}, "
                         f"p99 {o['warm_p99_ms']:.1f}; {o['turns_failed']} failed; "
                         f"{o['handshakes_per_turn']} TLS handshakes per turn",
                         o["p50_ms"] <= lb + 10 and o["turns_failed"] == 0))
    r = res.get("answer_latency", {}).get("vad")
    if r:
        rows.append((f"{ANSWER_S} s answer, server_vad + segments: end of speech -> first audio within 30 ms of "
                     "silence + S(last) + F + k*t + T", f"p50 {r['p50_ms']:.1f} ms, bound {r['bound_ms']:.0f} ms "
                     f"({r['p50_ms'] - r['bound_ms']:+.0f}); floor {r.get('floor_ms')} ms",
                     r["p50_ms"] <= r["bound_ms"] + 30))
    m = res.get("answer_memory")
    if m and m["opened"] >= 500 and m["answer_s"] >= 300:
        grow = (m["rss_speech_peak_kb"] - m["rss0_kb"]) / 1024
        rows.append(("500 clients x 5 min answers with pauses: RSS < 64 MiB above idle",
                     f"{grow:.1f} MiB above idle at the peak while all speak ({m['speed']:.0f}x real time; "
                     f"{(m['rss_peak_kb'] - m['rss0_kb']) / 1024:.1f} MiB when the 500 replies come at once)",
                     grow < 64 and m["turns_ok"] == m["opened"]))
    s = res.get("startup_ms", {}).get("ours")
    if s is not None:
        rows.append(("start-up to first answered connection < 20 ms", f"median {s:.1f} ms (includes the Python "
                     "prober's own fork/exec and polling)", s < 20))
    rows.append(("binary size stated (static, stripped)", f"{res.get('binary_bytes', 0):,} bytes", True))
    return rows


def _get(res, key, name):
    return res.get(key, {}).get(name)


def plots(res):
    if not res.get("pingpong") and not res.get("conns"):
        return  # a run of other modes only (BENCH_MODES): keep the plots of the last full run
    if not shutil.which("gnuplot"):
        log("gnuplot missing: no plots")
        return
    names = list(servers())
    d = os.path.join(OUT, "plot")
    os.makedirs(d, exist_ok=True)
    # latency percentiles
    with open(os.path.join(d, "lat.dat"), "w") as f:
        for n in names:
            r = res.get("pingpong", {}).get(n)
            if r:
                f.write(f"{n} {r['p50_ms']} {r['p99_ms']} {r['p999_ms']}\n")
    # memory per conn vs N, throughput vs conns
    for n in names:
        with open(os.path.join(d, f"mem-{n}.dat"), "w") as f:
            for r in res.get("conns", {}).get(n, []):
                f.write(f"{r['held']} {r['rss_per_conn_b']}\n")
        with open(os.path.join(d, f"tp-{n}.dat"), "w") as f:
            for key, c in (("pingpong_c10", 10), ("pingpong", 100), ("pingpong_c1000", 1000)):
                r = res.get(key, {}).get(n)
                if r:
                    f.write(f"{c} {r['per_cpu_s']}\n")
    common = "set terminal pngcairo size 800,480 noenhanced\nset grid\nset key top left\n"
    script = common + f"""set output '{OUT}/latency.png'
set title 'pingpong latency (100 conns x 10 in flight)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set ylabel 'ms'
set logscale y
plot '{d}/lat.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p99', '' using 4 title 'p99.9'
unset logscale y
set style data linespoints
set output '{OUT}/memory.png'
set title 'server RSS per idle WebSocket connection'
set xlabel 'connections held'
set ylabel 'bytes per connection'
plot """ + ", ".join(f"'{d}/mem-{n}.dat' using 1:2 with linespoints title '{n}'" for n in names) + f"""
set output '{OUT}/throughput.png'
set title 'pingpong messages per server-CPU-second (10 in flight per conn)'
set logscale x
set xlabel 'connections'
set ylabel 'messages / server-CPU-s'
plot """ + ", ".join(f"'{d}/tp-{n}.dat' using 1:2 with linespoints title '{n}'" for n in names) + "\n"
    with open(os.path.join(d, "plots.gp"), "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", os.path.join(d, "plots.gp")], capture_output=True, text=True)
    if r.returncode:
        log("gnuplot failed:", r.stderr[:500])


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def report(res):
    res["targets"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(res)]
    md = "### targets\n\n| target | measured | met |\n|---|---|---|\n" + "".join(
        f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |\n" for t in res["targets"]) + "\n"
    md += markdown(res)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(md)
    plots(res)
    return md


def run_ab(before_bin, runs):
    """BENCH_AB=/path/to/other/interview: audio flat out on that binary and on
    ours, alternately, `runs` times each (a shared machine drifts: interleaving
    puts both under the same drift, the spread shows how much)."""
    out = {"before_bin": before_bin, "after_bin": os.path.join(B, "interview"), "before": [], "after": []}
    spec = servers()["ours"]
    for i in range(runs):
        for side, binary in (("before", before_bin), ("after", out["after_bin"])):
            r = with_server(f"ab-{side}", dict(spec, cmd=[binary]),
                            lambda s: loadgen(s, "audio", "-F", "-c", 50, "-k", 4, "-d", 5, "-R", 200))
            if r:
                out[side].append(r["per_cpu_s"])
                log(f"AB run {i + 1} {side}: {r['per_cpu_s']:,.0f} chunks per server-CPU-s")
    import statistics
    med = {k: statistics.median(out[k]) for k in ("before", "after") if out[k]}
    if len(med) == 2:
        out["median_before"], out["median_after"] = med["before"], med["after"]
        out["cost_pct"] = round(100 * (med["before"] / med["after"] - 1), 1)  # extra CPU per chunk
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    if os.environ.get("BENCH_AB"):
        res = run_ab(os.environ["BENCH_AB"], int(os.environ.get("BENCH_AB_RUNS", "5")))
        with open(os.path.join(OUT, "ab.json"), "w") as f:
            json.dump(res, f, indent=1)
        print(json.dumps(res, indent=1))
        return
    if os.environ.get("BENCH_REPORT_ONLY") == "1":  # tables and plots again from results.json
        with open(os.path.join(OUT, "results.json")) as f:
            print(report(json.load(f)))
        return
    t0 = time.time()
    res = {"machine": machine(), "quick": QUICK, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    res["binary_bytes"] = os.path.getsize(os.path.join(B, "interview"))
    res["turn_lower_bound_ms"] = turn_lower_bound_ms()
    for name, spec in servers().items():
        log("==", name)
        for mode, fn in (("traffic", run_traffic), ("conns", run_conns), ("turn", run_turn),
                         ("answer", run_answer), ("memory", run_memory), ("vadcost", run_vadcost)):
            if not MODES or mode in MODES:
                fn(name, spec, res)
    if SCRAPE_S:
        res["scrapes"] = dict(SCRAPES, interval_s=SCRAPE_S)
        log("scrapes of /metrics:", res["scrapes"])
    for name, xs in STARTUPS.items():
        res.setdefault("startup_ms", {})[name] = round(sorted(xs)[len(xs) // 2], 2)
        res.setdefault("startup_ms_min", {})[name] = round(min(xs), 2)
    res["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    res["duration_s"] = round(time.time() - t0)
    print(report(res))
    log(f"done in {res['duration_s']} s: {OUT}/results.json, results.md, latency.png, memory.png, throughput.png")


if __name__ == "__main__":
    main()
