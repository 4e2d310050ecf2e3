"""Access control and limits against abuse (issue 6), both ways: the bearer
token (header, query, subprotocol, token file), the Origin rule, the OpenAI
key file and its absence from every output, TRUSTED_PROXIES and
X-Forwarded-For, the per-IP WebSocket cap, the per-connection token buckets
(RATE_LIMITED, then close 1008), UPSTREAM_MAX_INFLIGHT, and a seed-001-paced
interview that trips none of the defaults. Real peer: Python `websockets`;
raw sockets where a request must be exactly so."""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import BIN, Server, check, finish, free_port, status_of, upgrade_request  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="interview-ca-")
TOKEN = "tok-" + os.urandom(12).hex()        # 28 characters of [a-z0-9-]
WRONG = "tok-" + os.urandom(12).hex()
FAKE_KEY = "sk-leakcheck-" + os.urandom(16).hex()


def raw(port, head, src="127.0.0.1"):
    """Send one request head from a chosen source address; the status line,
    the head and the open socket (for a 101) come back."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(head)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head_out, _, body = buf.partition(b"\r\n\r\n")
    if status_of(head_out + b"\r\n") != 101:
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
        except OSError:
            pass
    return status_of(head_out + b"\r\n"), head_out.decode("latin-1"), body, s


def upgrade(port, path="/ws/a", extra="", src="127.0.0.1", host="127.0.0.1"):
    req = upgrade_request(path, extra=extra).replace(b"Host: 127.0.0.1\r\n", f"Host: {host}\r\n".encode())
    st, head, body, s = raw(port, req, src)
    if st != 101:
        s.close()
        s = None
    return st, head, body, s


def http_get(port, path, extra="", method="GET"):
    st, head, body, s = raw(port, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
    s.close()
    return st, head, body


async def recv_json(ws, timeout=5):
    while True:
        m = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(m, str):
            return json.loads(m)


def run_config(env, timeout=10):
    """Start the binary expecting a configuration error; (exit code, stderr)."""
    full = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(free_port())}
    full.update(env)
    p = subprocess.run([BIN], env=full, capture_output=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


# ---- bearer token --------------------------------------------------------

async def token_ws(srv):
    url = srv.url("/ws/tok")
    async with websockets.connect(url, extra_headers={"Authorization": "Bearer " + TOKEN}) as ws:
        check("token: Authorization: Bearer <token> -> 101", json.loads(await ws.recv())["type"] == "greeting")
    async with websockets.connect(url + "?token=" + TOKEN) as ws:
        check("token: ?token=<token> on /ws/{id} -> 101", json.loads(await ws.recv())["type"] == "greeting")
    async with websockets.connect(srv.url("/api/stream/ws/tok?token=" + TOKEN)) as ws:
        check("token: ?token=<token> on /api/stream/ws/{id} -> 101",
              (await recv_json(ws))["type"] == "connection_established")
    async with websockets.connect(url, subprotocols=["bearer." + TOKEN]) as ws:
        await ws.recv()
        check("token: subprotocol bearer.<token> -> 101, the offer selected in the answer",
              ws.subprotocol == "bearer." + TOKEN, ws.subprotocol)
    async with websockets.connect(url, subprotocols=["chat", "bearer." + TOKEN]) as ws:
        await ws.recv()
        check("token: subprotocols [chat, bearer.<token>] -> bearer.<token> selected",
              ws.subprotocol == "bearer." + TOKEN, ws.subprotocol)
    for name, kw in (("subprotocol bearer.<wrong>", {"subprotocols": ["bearer." + WRONG]}),
                     ("no credential (websockets client)", {})):
        try:
            async with websockets.connect(url, **kw):
                got = 101
        except websockets.InvalidStatusCode as e:
            got = e.status_code
        check(f"token: {name} -> 401", got == 401, got)


def test_token():
    with Server(INTERVIEW_AUTH_TOKEN=TOKEN, LOG_LEVEL="debug") as srv:
        st, head, body, _ = upgrade(srv.port)
        check("token: upgrade without a credential -> 401 with WWW-Authenticate: Bearer and a JSON body",
              st == 401 and "WWW-Authenticate: Bearer" in head and
              json.loads(body) == {"error": "authentication required", "status": 401}, (st, head, body))
        st, head, body, _ = upgrade(srv.port, extra=f"Authorization: Bearer {WRONG}\r\n")
        check("token: wrong bearer token -> 401 invalid token", st == 401 and b"invalid token" in body, st)
        st, _, _, _ = upgrade(srv.port, path="/ws/a?token=" + WRONG)
        check("token: wrong ?token= -> 401", st == 401, st)
        st, _, _, _ = upgrade(srv.port, extra=f"Authorization: Basic {TOKEN}\r\n")
        check("token: the token under another scheme (Basic) -> 401", st == 401, st)
        st, _, _, _ = upgrade(srv.port, extra=f"Authorization: Bearer {TOKEN[:-1]}\r\n")
        check("token: a prefix of the token -> 401", st == 401, st)
        st, _, _, s = upgrade(srv.port, path="/api/stream/ws/z",
                              extra=f"Sec-WebSocket-Protocol: bearer.{WRONG}\r\n"
                                    f"Sec-WebSocket-Protocol: bearer.{TOKEN}\r\n")
        check("token: repeated Sec-WebSocket-Protocol fields, the right one second -> 400 (one credential "
              "per request, issue 14)", st == 400, st)
        if s:
            s.close()
        asyncio.run(token_ws(srv))
        for path in ("/health", "/", "/api/stream/test-page"):
            st, _, _ = http_get(srv.port, path)
            check(f"token: GET {path} stays open -> 200", st == 200, st)
        st, head, body = http_get(srv.port, "/api/stream/status/nobody")
        check("token: GET /api/stream/status/{id} without a credential -> 401",
              st == 401 and "WWW-Authenticate: Bearer" in head, st)
        st, _, body = http_get(srv.port, "/api/stream/status/nobody", f"Authorization: Bearer {TOKEN}\r\n")
        check("token: GET /api/stream/status/{id} with the token -> 404 (not connected)", st == 404, (st, body))
        st, _, _ = http_get(srv.port, "/api/stream/disconnect/nobody?token=" + TOKEN, method="DELETE")
        check("token: DELETE /api/stream/disconnect/{id}?token= -> 404 (not connected)", st == 404, st)
        st, _, _ = http_get(srv.port, "/api/stream/disconnect/nobody?token=" + WRONG, method="DELETE")
        check("token: DELETE /api/stream/disconnect/{id} with a wrong token -> 401", st == 401, st)
        st, _, _ = http_get(srv.port, "/api/stream/status/x", "Origin: http://localhost:3000\r\n"
                            "Access-Control-Request-Method: GET\r\n", method="OPTIONS")
        check("token: CORS pre-flight (browsers send no credential) stays open -> 204", st == 204, st)
        time.sleep(0.2)
        log = srv.log()
        check("token: refusals are logged (auth_refused)", "auth_refused" in log)
        check("token: neither the token nor a wrong one appears in the log (LOG_LEVEL=debug)",
              TOKEN not in log and WRONG not in log and TOKEN[4:] not in log and WRONG[4:] not in log)
        check("token: request lines are logged without their query", "query not logged" in log)
    with Server() as srv:
        st, _, _, s = upgrade(srv.port)
        check("token: unset (default) -> upgrades need no credential", st == 101, st)
        if s:
            s.close()


def test_token_file():
    d = tempfile.mkdtemp(prefix="interview-secret-")
    path = os.path.join(d, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    with Server(INTERVIEW_AUTH_TOKEN_FILE=path) as srv:
        st, _, _, s = upgrade(srv.port, extra=f"Authorization: Bearer {TOKEN}\r\n")
        check("token file: the file's token (trailing newline stripped) admits -> 101", st == 101, st)
        if s:
            s.close()
        st2, _, _, _ = upgrade(srv.port)
        check("token file: no credential -> 401", st2 == 401, st2)
    code, out = run_config({"INTERVIEW_AUTH_TOKEN": TOKEN, "INTERVIEW_AUTH_TOKEN_FILE": path})
    check("config: INTERVIEW_AUTH_TOKEN and INTERVIEW_AUTH_TOKEN_FILE both set -> exit 2, token not printed",
          code == 2 and "not both" in out and TOKEN not in out, (code, out))
    code, out = run_config({"INTERVIEW_AUTH_TOKEN": "short-token"})
    check("config: a token under 16 characters -> exit 2", code == 2 and "short-token" not in out, (code, out))
    code, out = run_config({"INTERVIEW_AUTH_TOKEN": "has space in the token ok"})
    check("config: a token with a space -> exit 2", code == 2, (code, out))
    empty = os.path.join(d, "empty")
    open(empty, "w").close()
    code, out = run_config({"INTERVIEW_AUTH_TOKEN_FILE": empty})
    check("config: an empty token file -> exit 2", code == 2, (code, out))
    code, out = run_config({"INTERVIEW_AUTH_TOKEN_FILE": os.path.join(d, "missing")})
    check("config: a missing token file -> exit 2", code == 2, (code, out))
    keyf = os.path.join(d, "key")
    with open(keyf, "w") as f:
        f.write(FAKE_KEY + "\n")
    code, out = run_config({"OPENAI_API_KEY": FAKE_KEY, "OPENAI_API_KEY_FILE": keyf})
    check("config: OPENAI_API_KEY and OPENAI_API_KEY_FILE both set -> exit 2, key not printed",
          code == 2 and "not both" in out and FAKE_KEY not in out, (code, out))
    code, out = run_config({"OPENAI_API_KEY": FAKE_KEY + " x"})
    check("config: an API key with a space -> exit 2, key not printed", code == 2 and FAKE_KEY not in out,
          (code, out))
    code, out = run_config({"TRUSTED_PROXIES": "10.0.0.0/33"})
    check("config: TRUSTED_PROXIES=10.0.0.0/33 -> exit 2", code == 2 and "TRUSTED_PROXIES" in out, (code, out))
    code, out = run_config({"TRUSTED_PROXIES": "proxy.example"})
    check("config: TRUSTED_PROXIES with a host name -> exit 2", code == 2, (code, out))


# ---- Origin --------------------------------------------------------------

async def origin_ws(srv):
    async with websockets.connect(srv.url("/ws/o"), origin=f"http://127.0.0.1:{srv.port}") as ws:
        check("origin: same origin (http://127.0.0.1:PORT, Host 127.0.0.1:PORT) -> 101",
              json.loads(await ws.recv())["type"] == "greeting")
    async with websockets.connect(srv.url("/api/stream/ws/o"), origin="http://localhost:3000") as ws:
        check("origin: an ALLOWED_ORIGINS entry (http://localhost:3000) -> 101",
              (await recv_json(ws))["type"] == "connection_established")
    try:
        async with websockets.connect(srv.url("/ws/o"), origin="https://evil.example"):
            got = 101
    except websockets.InvalidStatusCode as e:
        got = e.status_code
    check("origin: another site (websockets client, Origin https://evil.example) -> 403", got == 403, got)


def test_origin():
    with Server(ALLOWED_HOSTS="interview.example") as srv:
        p = srv.port
        cases = [
            ("no Origin (non-browser client)", "", "127.0.0.1", 101),
            ("same origin, http", f"Origin: http://127.0.0.1:{p}\r\n", f"127.0.0.1:{p}", 101),
            ("same origin, https (behind a TLS terminator)", "Origin: https://interview.example\r\n",
             "interview.example", 101),
            ("same origin, host case differs", f"Origin: http://LOCALHOST:{p}\r\n", f"localhost:{p}", 101),
            ("other port", f"Origin: http://127.0.0.1:{p + 1}\r\n", f"127.0.0.1:{p}", 403),
            ("other host", "Origin: http://evil.example\r\n", f"127.0.0.1:{p}", 403),
            ("look-alike host", f"Origin: http://127.0.0.1.evil.example:{p}\r\n", f"127.0.0.1:{p}", 403),
            ("Origin null (sandboxed page, file:)", "Origin: null\r\n", f"127.0.0.1:{p}", 403),
            ("scheme not http(s)", f"Origin: ftp://127.0.0.1:{p}\r\n", f"127.0.0.1:{p}", 403),
            ("listed in ALLOWED_ORIGINS", "Origin: http://127.0.0.1:3000\r\n", f"127.0.0.1:{p}", 101),
            ("seed 000's front-end (default list)", "Origin: http://localhost:3001\r\n", f"localhost:{p}", 101),
            ("listed origin's other port", "Origin: http://localhost:3002\r\n", f"localhost:{p}", 403),
        ]
        for name, extra, host, want in cases:
            for path in ("/ws/o1", "/api/stream/ws/o1"):
                st, _, body, s = upgrade(p, path=path, extra=extra, host=host)
                if s:
                    s.close()
                ok = st == want and (want == 101 or json.loads(body)["status"] == 403)
                check(f"origin: {name} on {path.split('/o1')[0]}/ -> {want}", ok, (st, body))
        asyncio.run(origin_ws(srv))
        st, _, _ = http_get(p, "/", "Origin: http://evil.example\r\n")
        check("origin: pages are plain GETs, not upgrades: / still 200 with any Origin", st == 200, st)
        time.sleep(0.1)
        check("origin: refusals logged (origin_refused)", "origin_refused" in srv.log())
    with Server(ALLOWED_ORIGINS="https://app.example") as srv:
        st, _, _, s = upgrade(srv.port, extra="Origin: https://app.example\r\n")
        check("origin: ALLOWED_ORIGINS=https://app.example admits that origin -> 101", st == 101, st)
        if s:
            s.close()
        st, _, _, _ = upgrade(srv.port, extra="Origin: http://localhost:3000\r\n")
        check("origin: the default list no longer applies once ALLOWED_ORIGINS is set -> 403", st == 403, st)


# ---- the OpenAI key: file, never in any output, not dumpable ------------

async def key_flow(srv, mock):
    events = []
    async with websockets.connect(srv.url("/ws/keyed"), max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "audio_chunk", "data": [1000, -1000] * 512}))
        await ws.recv()
        await ws.send('{"type":"send_for_AI_processing"}')
        while True:
            m = await asyncio.wait_for(ws.recv(), 20)
            if isinstance(m, str):
                events.append(m)
                if json.loads(m)["type"] in ("ai_response_complete", "error"):
                    break
        ok = json.loads(events[-1])["type"] == "ai_response_complete"
        check("api key file: a turn completes with the key read from OPENAI_API_KEY_FILE", ok, events[-3:])
        check("api key file: the mock saw the right key", all(r.get("auth") == "ok" for r in
                                                             mock.requests("transcriptions")))
        for fault in ("401", "429", "500"):
            mock.configure(faults={"transcriptions": [fault] * 3})
            await ws.send(json.dumps({"type": "audio_chunk", "data": [1000, -1000] * 512}))
            await ws.send('{"type":"send_for_AI_processing"}')
            m = await recv_json(ws, 30)
            while m["type"] != "error":
                m = await recv_json(ws, 30)
            events.append(json.dumps(m))
            check(f"api key: upstream {fault} -> TRANSCRIPTION_ERROR without the key",
                  m["code"] == "TRANSCRIPTION_ERROR" and FAKE_KEY not in json.dumps(m), m)
        mock.configure(faults={"transcriptions": []})
    return events


async def wrong_key_flow(srv):
    async with websockets.connect(srv.url("/ws/wrongkey"), max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "audio_chunk", "data": [1000, -1000] * 512}))
        await ws.recv()
        await ws.send('{"type":"send_for_AI_processing"}')
        m = await recv_json(ws, 30)
        while m["type"] != "error":
            m = await recv_json(ws, 30)
        check("api key: a key the API refuses -> TRANSCRIPTION_ERROR, the key not in the error",
              m["code"] == "TRANSCRIPTION_ERROR" and FAKE_KEY not in json.dumps(m) and
              FAKE_KEY[-8:] not in json.dumps(m), m)
    async with websockets.connect(srv.url("/api/stream/ws/wrongkey")) as ws:
        await recv_json(ws)
        wav = (b"RIFF" + (36 + 3200).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little") +
               b"\x01\x00\x01\x00" + (16000).to_bytes(4, "little") + (32000).to_bytes(4, "little") +
               b"\x02\x00\x10\x00data" + (3200).to_bytes(4, "little") + b"\x10\x00" * 1600)
        import base64
        await ws.send(json.dumps({"type": "transcription_request", "data": base64.b64encode(wav).decode()}))
        m = await recv_json(ws, 30)
        check("api key: seed 004 transcription with a refused key -> transcription_error without the key",
              m["type"] == "transcription_error" and FAKE_KEY not in json.dumps(m), m)


def test_api_key():
    d = tempfile.mkdtemp(prefix="interview-secret-")
    keyf = os.path.join(d, "key")
    with open(keyf, "w") as f:
        f.write(FAKE_KEY + "\n")
    with MockOpenAI(cert_dir=CERTS, api_key=FAKE_KEY) as mock:
        env = {"OPENAI_API_KEY_FILE": keyf, "OPENAI_BASE_URL": mock.base_url, "SSL_CERT_FILE": mock.ca,
               "LOG_LEVEL": "debug", "UPSTREAM_MAX_RETRIES": "0"}
        with Server(**env) as srv:
            events = asyncio.run(key_flow(srv, mock))
            time.sleep(0.2)
            log = srv.log()
        check("api key: the key appears in no log line (LOG_LEVEL=debug) and no event",
              FAKE_KEY not in log and FAKE_KEY[3:] not in log and not any(FAKE_KEY in e for e in events))
    with MockOpenAI(cert_dir=CERTS) as mock:  # the mock expects its own key: ours is refused with 401
        with Server(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                    LOG_LEVEL="debug", UPSTREAM_MAX_RETRIES="0") as srv:
            asyncio.run(wrong_key_flow(srv))
            time.sleep(0.2)
            log = srv.log()
        check("api key: after upstream 401s the key appears in no log line", FAKE_KEY not in log and
              FAKE_KEY[3:] not in log)
    # Not dumpable: started as an unprivileged user, its /proc entries stay root's.
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(port), "OPENAI_API_KEY": FAKE_KEY}
    if os.geteuid() == 0 and os.access(BIN, os.X_OK):
        # A copy that uid 65534 can reach: the checkout may sit in a folder only
        # root can enter (mktemp -d, /root/...).
        spare = tempfile.mkdtemp(prefix="interview-nobody-")
        os.chmod(spare, 0o755)
        copy = os.path.join(spare, "interview")
        shutil.copy(BIN, copy)
        os.chmod(copy, 0o755)
        p = subprocess.Popen([copy], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)), cwd="/")
        control = subprocess.Popen(["/bin/sleep", "5"], preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        try:
            time.sleep(1.0)
            alive = p.poll() is None
            owner = os.stat(f"/proc/{p.pid}/environ").st_uid if alive else -1
            cowner = os.stat(f"/proc/{control.pid}/environ").st_uid
            check("api key: the process is not dumpable (as uid 65534 its /proc/PID stays root's; "
                  "a control process's is 65534's)", alive and owner == 0 and cowner == 65534,
                  (alive, owner, cowner))
        finally:
            p.terminate()
            p.wait(10)
            control.kill()
            control.wait()
            shutil.rmtree(spare, ignore_errors=True)
    else:
        print("note: not root, the dumpable check needs to start the server as another user")


# ---- TRUSTED_PROXIES, X-Forwarded-For, per-IP cap ------------------------

def test_proxies():
    with Server(TRUSTED_PROXIES="127.0.0.1, ::1", MAX_WEBSOCKETS_PER_IP=2) as srv:
        p = srv.port
        xff = "X-Forwarded-For: 198.51.100.20, 203.0.113.5\r\n"
        a = upgrade(p, "/ws/x1", xff)
        b = upgrade(p, "/ws/x2", "X-Forwarded-For: 203.0.113.5\r\n")
        check("xff: two WebSockets for client 203.0.113.5 through a trusted proxy -> 101",
              a[0] == 101 and b[0] == 101, (a[0], b[0]))
        c = upgrade(p, "/ws/x3", "X-Forwarded-For: 10.1.1.1, 203.0.113.5\r\n")
        check("xff: a third for 203.0.113.5 -> 429 with Retry-After (MAX_WEBSOCKETS_PER_IP=2)",
              c[0] == 429 and "Retry-After:" in c[1] and json.loads(c[2])["status"] == 429, c[:3])
        d = upgrade(p, "/ws/x4", "X-Forwarded-For: 203.0.113.6\r\n")
        check("xff: another forwarded client beside it -> 101", d[0] == 101, d[0])
        e = upgrade(p, "/ws/x5", "X-Forwarded-For: 203.0.113.5\r\nX-Forwarded-For: 203.0.113.7\r\n")
        check("xff: repeated fields form one list, the right-most untrusted (203.0.113.7) is the client -> 101",
              e[0] == 101, e[0])
        g = upgrade(p, "/ws/x7", "X-Forwarded-For: 203.0.113.8:4711, 127.0.0.1:5000\r\n")
        check("xff: entries with a port (203.0.113.8:4711) are read as their address -> 101", g[0] == 101, g[0])
        if g[3]:
            g[3].close()
        a[3].close()
        time.sleep(0.3)
        f = upgrade(p, "/ws/x6", xff)
        check("xff: after one of them closed, 203.0.113.5 may connect again -> 101", f[0] == 101, f[0])
        time.sleep(0.1)
        log = srv.log()
        check("xff: logs name the forwarded client and the proxy",
              "forwarded_client" in log and "peer=203.0.113.5 via=127.0.0.1:" in log and
              "peer=203.0.113.8 via=127.0.0.1:" in log and
              "peer=203.0.113.5" in log.split("ws_open", 1)[-1])
        for x in (b, d, e, f):
            if x[3]:
                x[3].close()
    with Server(TRUSTED_PROXIES="10.9.9.9", MAX_WEBSOCKETS_PER_IP=2) as srv:
        p = srv.port
        a = upgrade(p, "/ws/u1", "X-Forwarded-For: 203.0.113.1\r\n")
        b = upgrade(p, "/ws/u2", "X-Forwarded-For: 203.0.113.2\r\n")
        c = upgrade(p, "/ws/u3", "X-Forwarded-For: 203.0.113.3\r\n")
        check("xff: from an untrusted peer X-Forwarded-For is ignored: the third from 127.0.0.1 -> 429",
              a[0] == 101 and b[0] == 101 and c[0] == 429, (a[0], b[0], c[0]))
        time.sleep(0.1)
        check("xff: an untrusted peer's X-Forwarded-For is not logged as the client",
              "forwarded_client" not in srv.log() and "203.0.113" not in srv.log())
        for x in (a, b):
            x[3].close()
    with Server(MAX_WEBSOCKETS_PER_IP=2) as srv:
        p = srv.port
        got = [upgrade(p, f"/ws/ip{i}", src="127.0.0.2") for i in range(3)]
        other = upgrade(p, "/ws/ipo", src="127.0.0.3")
        check("per-IP: from 127.0.0.2 two WebSockets -> 101, the third -> 429",
              [g[0] for g in got] == [101, 101, 429], [g[0] for g in got])
        check("per-IP: 127.0.0.3 is not affected -> 101", other[0] == 101, other[0])
        st, _, _ = http_get(p, "/health")
        check("per-IP: plain HTTP requests are not counted -> /health 200", st == 200, st)
        for g in got + [other]:
            if g[3]:
                g[3].close()


# ---- per-connection rate limits -----------------------------------------

async def drain_until_close(ws, timeout=10):
    msgs = []
    try:
        while True:
            m = await asyncio.wait_for(ws.recv(), timeout)
            if isinstance(m, str):
                msgs.append(json.loads(m))
    except websockets.ConnectionClosed:
        pass
    return msgs, ws.close_code, ws.close_reason


async def rate_flows(srv):
    # messages per second: burst 5, then 1/s; strikes 3
    async with websockets.connect(srv.url("/ws/flood")) as ws:
        await ws.recv()
        for _ in range(20):
            await ws.send('{"type":"ping"}')
        msgs, code, reason = await drain_until_close(ws)
        pongs = [m for m in msgs if m["type"] == "pong"]
        errs = [m for m in msgs if m["type"] == "error"]
        check("rate: message flood -> the burst (5) answered with pong", 5 <= len(pongs) <= 6, len(pongs))
        check("rate: then error RATE_LIMITED in the seed 000/001 shape (message, error, code), saying "
              "the message was not processed",
              errs and errs[0]["code"] == "RATE_LIMITED" and "not processed" in errs[0]["message"] and
              errs[0]["error"] == errs[0]["message"] and "timestamp" in errs[0], errs[:1])
        check("rate: every refused message before the close is answered (3 strikes -> 3 errors)",
              len(errs) == 3, len(errs))
        check("rate: a client that keeps exceeding is closed with 1008", code == 1008, (code, reason))
    async with websockets.connect(srv.url("/api/stream/ws/flood")) as ws:
        await recv_json(ws)
        for _ in range(20):
            await ws.send('{"type":"ping"}')
        msgs, code, _ = await drain_until_close(ws)
        errs = [m for m in msgs if m["type"] == "error"]
        check("rate: on the stream API the error carries session_id, code RATE_LIMITED; then 1008",
              errs and errs[0]["code"] == "RATE_LIMITED" and errs[0]["session_id"] == "flood" and code == 1008,
              (errs[:1], code))
    # one refusal, then behaving again: no close
    async with websockets.connect(srv.url("/ws/once")) as ws:
        await ws.recv()
        for _ in range(6):
            await ws.send('{"type":"ping"}')
        got = [await recv_json(ws) for _ in range(6)]
        check("rate: the 6th message at once -> RATE_LIMITED, the connection stays open",
              [m["type"] for m in got].count("error") == 1 and got[-1]["code"] == "RATE_LIMITED",
              [m["type"] for m in got])
        await asyncio.sleep(1.1)
        await ws.send('{"type":"ping"}')
        check("rate: after a pause the client is served again", (await recv_json(ws))["type"] == "pong")


async def byte_flows(srv):
    big = json.dumps({"type": "test", "data": "x" * 6000})
    async with websockets.connect(srv.url("/api/stream/ws/bytes")) as ws:
        await recv_json(ws)
        await ws.send(big)
        m1 = await recv_json(ws)
        await ws.send(big)
        m2 = await recv_json(ws)
        check("rate: bytes: the first 6 KB message passes, the second exceeds the 10 KB burst -> RATE_LIMITED",
              m1["type"] == "test_response" and m2["type"] == "error" and m2["code"] == "RATE_LIMITED" and
              "bytes" in m2["message"], (m1["type"], m2))
        for _ in range(10):
            await ws.send(big)
        msgs, code, _ = await drain_until_close(ws)
        check("rate: bytes: sustained -> close 1008", code == 1008, code)
    async with websockets.connect(srv.url("/ws/bin")) as ws:
        await ws.recv()
        await ws.send(b"\0" * 9000)
        m1 = await recv_json(ws)
        await ws.send(b"\0" * 9000)
        m2 = await recv_json(ws)
        check("rate: bytes: binary messages count too (UNSUPPORTED_BINARY, then RATE_LIMITED)",
              m1["code"] == "UNSUPPORTED_BINARY" and m2["code"] == "RATE_LIMITED", (m1, m2))


async def turn_flows(srv):
    async with websockets.connect(srv.url("/ws/turns")) as ws:
        await ws.recv()
        codes = []
        for _ in range(3):
            await ws.send('{"type":"send_for_AI_processing"}')
            codes.append((await recv_json(ws))["code"])
        check("rate: AI turns: 2 per minute reach the pipeline (which answers: no key), the 3rd -> RATE_LIMITED",
              "RATE_LIMITED" not in codes[:2] and codes[2] == "RATE_LIMITED", codes)
        await ws.send('{"type":"start_interview"}')
        m = await recv_json(ws)
        check("rate: AI turns: start_interview counts too -> RATE_LIMITED", m["code"] == "RATE_LIMITED", m)
        await ws.send('{"type":"ping"}')
        check("rate: AI turns: other messages still served -> pong", (await recv_json(ws))["type"] == "pong")
        for _ in range(3):
            await ws.send('{"type":"send_for_AI_processing"}')
        msgs, code, _ = await drain_until_close(ws)
        check("rate: AI turns: sustained -> close 1008", code == 1008, code)
    async with websockets.connect(srv.url("/api/stream/ws/turns")) as ws:
        await recv_json(ws)
        got = []
        for _ in range(3):
            await ws.send('{"type":"transcription_request","data":"AAAA"}')
            got.append(await recv_json(ws))
        check("rate: AI turns: seed 004 transcription_request counts (2 transcription_error, then RATE_LIMITED)",
              [m["type"] for m in got] == ["transcription_error", "transcription_error", "error"] and
              got[2]["code"] == "RATE_LIMITED", got)


def test_rate_limits():
    with Server(WS_MESSAGES_PER_SEC=1, WS_MESSAGES_BURST=5, RATE_LIMIT_STRIKES=3) as srv:
        asyncio.run(rate_flows(srv))
        time.sleep(0.1)
        log = srv.log()
        check("rate: refusals and the close are logged", "rate_limited" in log and "rate_limit_close" in log)
    with Server(WS_BYTES_PER_SEC="1k", WS_BYTES_BURST="10k", RATE_LIMIT_STRIKES=3) as srv:
        asyncio.run(byte_flows(srv))
    with Server(AI_TURNS_PER_MINUTE=2, RATE_LIMIT_STRIKES=3) as srv:
        asyncio.run(turn_flows(srv))


# ---- UPSTREAM_MAX_INFLIGHT ----------------------------------------------

async def inflight_flow(srv):
    async with websockets.connect(srv.url("/ws/first"), max_size=None) as a, \
            websockets.connect(srv.url("/ws/second"), max_size=None) as b:
        for ws in (a, b):
            await ws.recv()
            await ws.send(json.dumps({"type": "audio_chunk", "data": [500, -500] * 512}))
            await ws.recv()
        await a.send('{"type":"send_for_AI_processing"}')
        await asyncio.sleep(0.3)  # a's transcription now waits upstream
        await b.send('{"type":"send_for_AI_processing"}')
        m = await recv_json(b, 10)
        check("inflight: over UPSTREAM_MAX_INFLIGHT -> TRANSCRIPTION_ERROR 'too many upstream requests in flight'",
              m["type"] == "error" and m["code"] == "TRANSCRIPTION_ERROR" and "in flight" in m["message"], m)
        m = await recv_json(a, 20)
        while m["type"] not in ("user_transcript", "error"):
            m = await recv_json(a, 20)
        check("inflight: the request in flight is unaffected", m["type"] == "user_transcript", m)


def test_inflight():
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(delays={"stt_ms": 1500})
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                    UPSTREAM_MAX_INFLIGHT=1) as srv:
            asyncio.run(inflight_flow(srv))


# ---- a real interview trips nothing --------------------------------------

async def paced_flow(srv, seconds):
    async with websockets.connect(srv.url("/ws/paced"), max_size=None,
                                  origin=f"http://127.0.0.1:{srv.port}") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "start_interview", "timestamp": "2024-11-25T10:00:00Z"}))
        errors = []

        async def reader(stop_types):
            while True:
                m = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(m, str):
                    ev = json.loads(m)
                    if ev["type"] == "error":
                        errors.append(ev)
                    if ev["type"] in stop_types:
                        return ev

        await reader({"interview_started", "error"})
        sent = 0
        t0 = time.time()
        chunk = [(i * 37) % 65536 for i in range(1024)]  # uint16 view, as seed 001's client sends
        amplitudes = 0
        while time.time() - t0 < seconds:
            await ws.send(json.dumps({"type": "audio_chunk", "data": chunk}))
            sent += 1
            ev = await reader({"amplitude", "error"})
            amplitudes += ev["type"] == "amplitude"
            await asyncio.sleep(max(0.0, t0 + sent * 0.064 - time.time()))
        await ws.send('{"type":"send_for_AI_processing"}')
        done = await reader({"ai_response_complete", "error"})
        check(f"paced: seed 001 pace ({sent} x 1024-sample audio_chunk at 64 ms, "
              f"~{len(json.dumps({'type': 'audio_chunk', 'data': chunk})) // 1024} KB each) + turns: "
              "no RATE_LIMITED, every chunk answered", not errors and amplitudes == sent and
              done["type"] == "ai_response_complete", (errors[:2], amplitudes, sent))


def test_paced():
    with MockOpenAI(cert_dir=CERTS) as mock:
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
            asyncio.run(paced_flow(srv, 9.0))


if __name__ == "__main__":
    t0 = time.time()
    test_token()
    test_token_file()
    test_origin()
    test_api_key()
    test_proxies()
    test_rate_limits()
    test_inflight()
    test_paced()
    print(f"runtime {time.time() - t0:.1f}s")
    finish()
