"""Hardening round 2 (issue 14), each finding both ways: X-Forwarded-For read
from the right over all lines, ALLOWED_HOSTS against DNS rebinding, per-address
limits (connections at accept, coach sessions, AI turns across reconnects),
one credential per request and AUTH_FAILURES_PER_MINUTE, upstream error text
kept from clients, secrets on the command line, cleartext base URLs, the job
fetch port rule, the start-up warnings. Real peers: raw sockets, Python
`websockets`, the mock OpenAI."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import BIN, Server, check, finish, free_port  # noqa: E402
from test_access import CERTS, raw, upgrade, run_config  # noqa: E402

TOKEN = "tok-" + os.urandom(12).hex()


def http(port, path, host="127.0.0.1", extra="", method="GET"):
    st, head, body, s = raw(port, f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
    s.close()
    return st, head, body


# ---- 1. X-Forwarded-For: the proxy's own line is the last --------------------

def test_xff():
    with Server(TRUSTED_PROXIES="127.0.0.1") as srv:
        forged = "X-Forwarded-For: 198.51.100.66\r\n" * 8
        a = upgrade(srv.port, "/ws/xf1", forged + "X-Forwarded-For: 203.0.113.44\r\n")
        many = ", ".join(f"198.51.100.{i}" for i in range(100)) + ", 203.0.113.45"
        b = upgrade(srv.port, "/ws/xf2", f"X-Forwarded-For: {many}\r\n")
        time.sleep(0.2)
        log = srv.log()
        check("xff: 8 forged lines before the proxy's own -> the client is the proxy's entry (203.0.113.44)",
              a[0] == 101 and "forwarded_client peer=203.0.113.44" in log and "198.51.100.66" not in log,
              (a[0], [x for x in log.splitlines() if "forwarded" in x]))
        check("xff: one line of 101 entries -> the right-most (203.0.113.45)",
              b[0] == 101 and "forwarded_client peer=203.0.113.45" in log, b[0])
        for x in (a, b):
            if x[3]:
                x[3].close()


# ---- 2. ALLOWED_HOSTS (DNS rebinding) ------------------------------------------

def test_allowed_hosts():
    rebind = "rebind.attacker.test:%d"
    with Server() as srv:
        p = srv.port
        h = rebind % p
        a = upgrade(p, "/ws/rb", f"Origin: http://{h}\r\n", host=h)
        check("hosts: upgrade with Host rebind.attacker.test and Origin == Host -> 403 naming ALLOWED_HOSTS",
              a[0] == 403 and b"ALLOWED_HOSTS" in a[2], a[:3])
        b = http(p, "/api/stream/status/x", host=h)
        check("hosts: GET /api/stream/status with that Host (no Origin: same-origin fetch) -> 403",
              b[0] == 403 and b"ALLOWED_HOSTS" in b[2], b[:3])
        c = upgrade(p, "/ws/rb2", "", host=h)
        check("hosts: upgrade with that Host and no Origin -> 403", c[0] == 403, c[0])
        for path in ("/", "/health", "/api/stream/test-page"):
            d = http(p, path, host=h)
            check(f"hosts: {path} with that Host stays open -> 200", d[0] == 200, d[0])
        for host in (f"127.0.0.1:{p}", f"localhost:{p}", f"LOCALHOST:{p}", f"[::1]:{p}", "192.0.2.1"):
            e = upgrade(p, "/ws/lit", f"Origin: http://{host}\r\n", host=host)
            check(f"hosts: Host {host} (IP literal / localhost), Origin == Host -> 101", e[0] == 101, e[0])
            if e[3]:
                e[3].close()
        f = upgrade(p, "/ws/ok", "Origin: http://localhost:3000\r\n", host=h)
        check("hosts: a listed Origin (ALLOWED_ORIGINS) with any Host -> 101", f[0] == 101, f[0])
        if f[3]:
            f[3].close()
        time.sleep(0.1)
        check("hosts: the refusal is logged (host_refused)", "host_refused" in srv.log())
    with Server(ALLOWED_HOSTS="interview.example.com, Rebind.Attacker.Test") as srv:
        p = srv.port
        h = rebind % p
        a = upgrade(p, "/ws/rb", f"Origin: http://{h}\r\n", host=h)
        b = http(p, "/api/stream/status/x", host="interview.example.com")
        check("hosts: a listed name (case-insensitive) -> 101, and /api/stream/* answers (404 no session)",
              a[0] == 101 and b[0] == 404, (a[0], b[0]))
        if a[3]:
            a[3].close()
        c = upgrade(p, "/ws/rb", "Origin: http://other.test\r\n", host="other.test")
        check("hosts: an unlisted name -> 403", c[0] == 403, c[0])


# ---- 4. per-address limits ---------------------------------------------------------

def conn_status(port, src="127.0.0.1", wait=0.3):
    """Open a TCP connection from src; the status of an answer the server sends
    unasked (a refusal at accept), else None with the socket kept open."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.settimeout(wait)
    try:
        data = s.recv(4096)
    except socket.timeout:
        return None, s
    s.close()
    return (int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0), data


def test_connections_per_ip():
    with Server(MAX_CONNECTIONS_PER_IP=3) as srv:
        p = srv.port
        held = [conn_status(p) for _ in range(3)]
        fourth = conn_status(p)
        check("per-ip: a 4th plain TCP connection from one address (MAX_CONNECTIONS_PER_IP=3) -> 429 at accept",
              all(h[0] is None for h in held) and fourth[0] == 429 and b"MAX_CONNECTIONS_PER_IP" in fourth[1] and
              b"Retry-After:" in fourth[1], fourth)
        crowd = [conn_status(p, f"127.0.{5 + i // 200}.{1 + i % 200}", 0.05) for i in range(300)]
        check("per-ip: 300 neighbouring addresses (127.0.5.1 ...) one connection each -> all served "
              "(the per-address table spreads them)", all(c[0] is None for c in crowd),
              sum(c[0] is not None for c in crowd))
        for c in crowd:
            if c[0] is None:
                c[1].close()
        other = conn_status(p, "127.0.0.2")
        check("per-ip: another address meanwhile -> served", other[0] is None, other)
        held[0][1].close()
        if other[1]:
            other[1].close()
        time.sleep(0.3)
        again = conn_status(p)
        check("per-ip: after one closed, that address may connect again", again[0] is None, again)
        for h in held[1:] + [again]:
            if h[0] is None:
                h[1].close()

    with Server(TRUSTED_PROXIES="127.0.0.1", MAX_WEBSOCKETS_PER_IP=1) as srv:
        a = upgrade(srv.port, "/ws/v1", "X-Forwarded-For: 2001:db8:1:2::1\r\n")
        b = upgrade(srv.port, "/ws/v2", "X-Forwarded-For: 2001:db8:1:2:ffff::9\r\n")
        c = upgrade(srv.port, "/ws/v3", "X-Forwarded-For: 2001:db8:1:3::1\r\n")
        check("per-ip: IPv6 clients count per /64: a second address in 2001:db8:1:2::/64 -> 429, "
              "the next /64 -> 101", (a[0], b[0], c[0]) == (101, 429, 101), (a[0], b[0], c[0]))
        for x in (a, c):
            if x[3]:
                x[3].close()


async def ai_turns(srv, n_conns):
    """One seed 004 transcription_request per connection, each on a new connection."""
    import base64
    data = base64.b64encode(wav([(i * 13) % 2000 - 1000 for i in range(1600)])).decode()
    got = []
    for i in range(n_conns):
        async with websockets.connect(srv.url(f"/api/stream/ws/t{i}")) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "transcription_request", "data": data}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if m["type"] in ("transcription_result", "transcription_error", "error"):
                    got.append(m)
                    break
    return got


def test_ai_turns_per_ip():
    with MockOpenAI(cert_dir=CERTS) as mock:
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                    AI_TURNS_PER_MINUTE_PER_IP=3) as srv:
            got = asyncio.run(ai_turns(srv, 4))
        kinds = [m["type"] if m["type"] != "error" else m.get("code") for m in got]
        check("per-ip: AI turns on 4 fresh connections from one address (AI_TURNS_PER_MINUTE_PER_IP=3) -> "
              "3 served, the 4th RATE_LIMITED: reconnecting does not reset the budget",
              kinds == ["transcription_result"] * 3 + ["RATE_LIMITED"] and
              "AI_TURNS_PER_MINUTE_PER_IP" in got[-1].get("message", ""), kinds)


def sio_connect(port, src="127.0.0.1"):
    """Engine.IO handshake over a WebSocket and a Socket.IO CONNECT: the CONNECT answer."""
    import base64 as b64
    key = b64.b64encode(os.urandom(16)).decode()
    head = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    st, _, rest, s = raw(port, head, src)
    if st != 101:
        return st, None

    def frames(buf):
        while True:
            while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7f if (buf[1] & 0x7f) < 126 else 2):
                buf += s.recv(4096)
            n = buf[1] & 0x7f
            off = 2
            if n == 126:
                n, off = int.from_bytes(buf[2:4], "big"), 4
            while len(buf) < off + n:
                buf += s.recv(4096)
            yield buf[off:off + n].decode("utf-8", "replace")
            buf = buf[off + n:]

    def send(text):
        data = text.encode()
        mask = os.urandom(4)
        s.sendall(bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
    it = frames(rest)
    next(it)  # the Engine.IO open packet
    send("40")
    for m in it:
        if m.startswith("40") or m.startswith("44"):
            return m, s


def test_coach_sessions_per_ip():
    with Server(COACH_MAX_SESSIONS_PER_IP=2) as srv:
        a, sa = sio_connect(srv.port)
        b, sb = sio_connect(srv.port)
        c, sc = sio_connect(srv.port)
        d, sd = sio_connect(srv.port, "127.0.0.2")
        check("per-ip: a 3rd connected coach session from one address (COACH_MAX_SESSIONS_PER_IP=2) -> "
              "CONNECT_ERROR naming the setting, another address served",
              a.startswith("40") and b.startswith("40") and c.startswith("44") and
              "COACH_MAX_SESSIONS_PER_IP" in c and d.startswith("40"), (a, b, c, d))
        for x in (sa, sb, sc, sd):
            if x:
                x.close()


# ---- 5. one credential per request; AUTH_FAILURES_PER_MINUTE ---------------------

def test_credentials():
    wrong = "tok-" + os.urandom(12).hex()
    with Server(INTERVIEW_AUTH_TOKEN=TOKEN, AUTH_FAILURES_PER_MINUTE=3) as srv:
        p = srv.port
        st = upgrade(p, "/ws/c1?token=" + TOKEN, f"Authorization: Bearer {TOKEN}\r\n")
        check("auth: header + ?token= (even both right) -> 400", st[0] == 400 and b"one credential" in st[2], st[:3])
        st = upgrade(p, "/ws/c2", f"Sec-WebSocket-Protocol: bearer.{wrong}, bearer.{TOKEN}\r\n")
        check("auth: two bearer.* offers in one field -> 400", st[0] == 400, st[0])
        st = upgrade(p, f"/ws/c3?token={wrong}&token={TOKEN}")
        check("auth: two ?token= -> 400", st[0] == 400, st[0])
        fails = [upgrade(p, "/ws/c4", f"Authorization: Bearer {wrong}\r\n")[0] for _ in range(3)]
        over = upgrade(p, "/ws/c5", f"Authorization: Bearer {TOKEN}\r\n")
        check("auth: after 3 wrong tokens (AUTH_FAILURES_PER_MINUTE=3) even the right one -> 429 with Retry-After",
              fails == [401] * 3 and over[0] == 429 and "Retry-After:" in over[1] and
              b"AUTH_FAILURES_PER_MINUTE" in over[2], (fails, over[:3]))
        st = http(p, "/api/stream/status/x", extra=f"Authorization: Bearer {TOKEN}\r\n")
        check("auth: ... also on /api/stream/* -> 429", st[0] == 429, st[0])
        other = upgrade(p, "/ws/c6", f"Authorization: Bearer {TOKEN}\r\n", src="127.0.0.2")
        check("auth: another address meanwhile -> 101", other[0] == 101, other[0])
        if other[3]:
            other[3].close()
        time.sleep(0.1)
        check("auth: the throttling is logged (auth_throttled)", "auth_throttled" in srv.log())


# ---- 3. multipart boundary: 128 random bits per request -------------------------

def wav(samples):
    import struct
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


async def two_transcriptions(srv):
    import base64
    async with websockets.connect(srv.url("/api/stream/ws/bnd")) as ws:
        await ws.recv()
        data = base64.b64encode(wav([(i * 13) % 2000 - 1000 for i in range(8000)])).decode()
        for _ in range(2):
            await ws.send(json.dumps({"type": "transcription_request", "data": data}))
            while json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] not in ("transcription_result", "error"):
                pass


def test_boundary():
    import re
    with MockOpenAI(cert_dir=CERTS) as mock:
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
            asyncio.run(two_transcriptions(srv))
        ctypes = [r["headers"].get("Content-Type", "") for r in mock.requests("transcriptions")]
        bounds = [c.split("boundary=", 1)[-1] for c in ctypes]
        check("boundary: each transcription's boundary is the tag + 32 hex digits (128 random bits), "
              "different per request", len(bounds) == 2 and bounds[0] != bounds[1] and
              all(re.fullmatch(r"interview-stream-[0-9a-f]{32}", b) for b in bounds), bounds)


# ---- 6. upstream error text stays in the log ------------------------------------

async def faulted_transcriptions(srv, mock):
    import base64
    got = []
    async with websockets.connect(srv.url("/api/stream/ws/err")) as ws:
        await ws.recv()
        data = base64.b64encode(wav([(i * 13) % 2000 - 1000 for i in range(8000)])).decode()
        for fault in ("429", "500", "400", "401"):
            mock.configure(faults={"transcriptions": [fault]})
            await ws.send(json.dumps({"type": "transcription_request", "data": data}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if m["type"] in ("transcription_result", "transcription_error", "error"):
                    got.append((fault, m))
                    break
    return got


def test_upstream_text():
    with MockOpenAI(cert_dir=CERTS) as mock:
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                    UPSTREAM_MAX_RETRIES=0) as srv:
            got = asyncio.run(faulted_transcriptions(srv, mock))
            time.sleep(0.1)
            log = srv.log()
        for fault, m in got:
            text = json.dumps(m)
            check(f"upstream text: HTTP {fault} -> {m['type']} with a fixed message naming the status, "
                  "not the API's words", "(mock)" not in text and f"HTTP {fault}" in text, m)
        check("upstream text: the API's words are in the log (ai_error)",
              "Rate limit reached (mock)" in log and "Bad request (mock)" in log, log[-600:])


# ---- 7, 8, 9 (test escape), 10: configuration and start-up -------------------------

def start_briefly(args, env, probe=None):
    """Start the binary, wait for /health, run probe(pid), stop it: (alive, stderr, probe result)."""
    port = free_port()
    full = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(port)}
    full.update(env)
    p = subprocess.Popen([BIN] + args, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    res, alive = None, False
    try:
        end = time.time() + 10
        while time.time() < end and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                alive = True
                break
            except OSError:
                time.sleep(0.05)
        if alive and probe:
            res = probe(p.pid)
    finally:
        if p.poll() is None:
            p.terminate()
        err = p.communicate(timeout=20)[1].decode("utf-8", "replace")
    return alive, err, res


def test_config():
    secret = "sk-leak-" + os.urandom(8).hex()
    for args, what in ((["--openai-api-keyy=" + secret], "an unknown flag with =value"),
                       (["--port", "8000", secret], "a stray value (a key after a flag that took its own)"),
                       (["--port=" + secret], "an invalid value of a known flag"),
                       (["--openai-api-key", secret, "--max-connections", "x" + secret], "an invalid value"),
                       (["--openai-api-key-file", secret], "a key given to the _FILE flag (an unreadable path)")):
        r = subprocess.run([BIN] + args, env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=10)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        check(f"secrets: {what} -> exit 2 without echoing the value", r.returncode == 2 and secret not in out
              and secret[3:] not in out and out.count("\n") == 1, out)
    r = subprocess.run([BIN, "--openai-api-keyy=" + secret], env={"PATH": "/usr/bin:/bin"}, capture_output=True)
    check("secrets: the unknown flag's name is still shown", b"--openai-api-keyy" in r.stderr, r.stderr)

    def probe(pid):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/limits") as f:
            core = [x for x in f if x.startswith("Max core file size")]
        return cmdline, core
    alive, err, (cmdline, core) = start_briefly(["--openai-api-key", secret], {}, probe)
    check("secrets: a key given as a flag -> warning naming the environment and _FILE forms",
          alive and "secret_on_command_line" in err and "OPENAI_API_KEY_FILE" in err and secret not in err, err)
    check("secrets: the key is wiped from /proc/PID/cmdline", secret.encode() not in cmdline, cmdline)
    check("secrets: RLIMIT_CORE is 0", core and core[0].split()[4:6] == ["0", "0"], core)
    alive, err, _ = start_briefly([], {"OPENAI_API_KEY": secret})
    check("secrets: a key from the environment -> no such warning", alive and "secret_on_command_line" not in err)

    code, out = run_config({"OPENAI_BASE_URL": "http://api.example.com/v1", "OPENAI_API_KEY": secret})
    check("http: OPENAI_BASE_URL http:// to a remote host -> exit 2 naming OPENAI_ALLOW_INSECURE_HTTP",
          code == 2 and "OPENAI_ALLOW_INSECURE_HTTP" in out, (code, out))
    alive, err, _ = start_briefly([], {"OPENAI_BASE_URL": "http://api.example.com/v1",
                                       "OPENAI_ALLOW_INSECURE_HTTP": "1"})
    check("http: ... with OPENAI_ALLOW_INSECURE_HTTP=1 -> starts, with a warning", alive and "insecure_http" in err,
          err)
    for url in ("http://127.0.0.1:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1"):
        alive, err, _ = start_briefly([], {"OPENAI_BASE_URL": url})
        check(f"http: {url} (loopback) -> starts, no warning", alive and "insecure_http" not in err, err)

    alive, err, _ = start_briefly([], {"HOST": "0.0.0.0"})
    check("exposed: HOST=0.0.0.0 without INTERVIEW_AUTH_TOKEN -> warning at start-up",
          alive and "no_auth_token" in err and "API key" in err, err)
    alive, err, _ = start_briefly([], {"HOST": "0.0.0.0", "INTERVIEW_AUTH_TOKEN": TOKEN})
    check("exposed: ... with a token -> no warning", alive and "no_auth_token" not in err, err)
    alive, err, _ = start_briefly([], {})
    check("exposed: HOST=127.0.0.1 without a token -> no warning", alive and "no_auth_token" not in err, err)

    code, out = run_config({"HOST": "0.0.0.0", "JOB_URL_ALLOWED_HOSTS": "jobs.example.com",
                            "JOB_URL_TEST_ALLOW_ADDRESSES": "127.0.0.1"})
    check("jobs: JOB_URL_TEST_ALLOW_ADDRESSES while listening on 0.0.0.0 -> exit 2", code == 2 and
          "JOB_URL_TEST_ALLOW_ADDRESSES" in out, (code, out))


if __name__ == "__main__":
    t0 = time.time()
    test_xff()
    test_allowed_hosts()
    test_connections_per_ip()
    test_ai_turns_per_ip()
    test_coach_sessions_per_ip()
    test_credentials()
    test_boundary()
    test_upstream_text()
    test_config()
    print(f"runtime {time.time() - t0:.1f}s")
    finish()
