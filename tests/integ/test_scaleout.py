"""Resumable interviews and more than one instance (README "Resuming an
interview", "Running more than one instance"), with the real engines:

- one instance, no Redis: a seed 001 client does two turns, drops, comes back
  with the same client_id: session_resumed with turns 2, and the third turn's
  chat request carries the first two in its history; a second live
  connection with the same id closes the first with 4000; a short id is not
  resumed; a reply in flight at SIGTERM finishes before the 1001 close.
- three instances, Debian's redis-server and haproxy running
  deploy/haproxy.cfg: two turns, SIGTERM to the instance that holds the
  interview, the client reconnects through HAProxy, lands on another instance
  and the third turn's request to the mock OpenAI carries the first two
  turns; nginx running deploy/nginx.conf with one instance gone; a second
  live connection with the same id on another instance (4000, hand-off);
  Redis stopped (interviews go on from memory) and started again (the saves
  made meanwhile are put back, sharing resumes);
- rediss:// (redisutil's Redis with a password and a TLS port) with REDIS_PASSWORD_FILE:
  SIGTERM on one instance, the interview resumes on another;
- the README quotes deploy/haproxy.cfg.
The mock OpenAI (tests/mock_openai.py) records every chat request's messages."""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from redisutil import Redis  # noqa: E402
from wsutil import Server, check, finish, free_port, measure  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="interview-ca-")
REPLY = "Thanks. Tell me about a hard bug you fixed and how you found it."
LONG_ID = "resume-candidate-0001"
SAMPLES = [(i * 37) % 65536 for i in range(2048)]


def server_for(mock, **env):
    base = {"OPENAI_API_KEY": mock.api_key, "OPENAI_BASE_URL": mock.base_url, "SSL_CERT_FILE": mock.ca,
            "UPSTREAM_CONNECT_TIMEOUT": "2s", "UPSTREAM_FIRST_BYTE_TIMEOUT": "3s"}
    base.update(env)
    return Server(**base)


async def recv_json(ws, timeout=15.0):
    """The next JSON message, past binary audio and the VAD/amplitude events."""
    deadline = time.time() + timeout
    while True:
        m = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.time()))
        if isinstance(m, bytes):
            continue
        ev = json.loads(m)
        if ev.get("type") not in ("speech_started", "speech_stopped", "amplitude", "ai_audio_chunk"):
            return ev


async def until(ws, kinds, timeout=15.0):
    seen = []
    while True:
        ev = await recv_json(ws, timeout)
        seen.append(ev)
        if ev.get("type") in kinds:
            return seen


async def answer(ws):
    """One seed 001 answer: audio, send_for_AI_processing, the reply's end."""
    await ws.send(json.dumps({"type": "audio_chunk", "data": SAMPLES}))
    await ws.send(json.dumps({"type": "send_for_AI_processing"}))
    return await until(ws, {"ai_response_complete", "error"})


async def greet(ws):
    ev = await recv_json(ws)
    return ev.get("type") == "greeting"


def chat_history(mock):
    """The last chat request's messages without the system prompt."""
    return [m for m in mock.requests("chat")[-1]["messages"] if m["role"] != "system"]


# ---- one instance ----------------------------------------------------------------

async def single_resume(srv, mock):
    async with websockets.connect(srv.url(f"/ws/{LONG_ID}"), max_size=None) as ws:
        check("first connection: greeting", await greet(ws))
        await ws.send(json.dumps({"type": "start_interview"}))
        ev = await until(ws, {"interview_started", "error"})
        check("opening", ev[-1]["type"] == "interview_started", ev[-1])
        for k in (1, 2):
            ev = await answer(ws)
            check(f"turn {k} completes", ev[-1]["type"] == "ai_response_complete", ev[-1])
    # dropped without end_interview: saved
    transcript = mock.config()["transcript"]
    async with websockets.connect(srv.url(f"/ws/{LONG_ID}"), max_size=None) as ws:
        first = await recv_json(ws)
        second = await recv_json(ws)
        check("reconnect: greeting, then session_resumed with turns 2",
              first.get("type") == "greeting" and second.get("type") == "session_resumed" and
              second.get("turns") == 2, (first, second))
        ev = await answer(ws)
        check("turn 3 after the resume completes", ev[-1]["type"] == "ai_response_complete", ev[-1])
        hist = chat_history(mock)
        want = ["assistant", "user", "assistant", "user", "assistant", "user"]
        check("turn 3's chat request carries the opening and both earlier turns",
              [m["role"] for m in hist] == want and hist[1]["content"] == transcript and
              hist[-1]["content"] == transcript and hist[2]["content"].strip() == REPLY, hist)
        # a second live connection with the same id replaces this one
        async with websockets.connect(srv.url(f"/ws/{LONG_ID}"), max_size=None) as ws2:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                pass
            check("a second connection with the same id closes the first with 4000", ws.close_code == 4000,
                  ws.close_code)
            await recv_json(ws2)
            res = await recv_json(ws2)
            check("the second connection resumes with turns 3", res.get("type") == "session_resumed" and
                  res.get("turns") == 3, res)
            await ws2.send(json.dumps({"type": "end_interview"}))
            await until(ws2, {"interview_ended"})
    async with websockets.connect(srv.url(f"/ws/{LONG_ID}"), max_size=None) as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "ping"}))
        ev = await recv_json(ws)
        check("after end_interview the id starts afresh (no session_resumed)", ev.get("type") == "pong", ev)


async def short_id(srv, mock):
    for _ in range(2):
        async with websockets.connect(srv.url("/ws/short-id-1"), max_size=None) as ws:
            await recv_json(ws)
            await ws.send(json.dumps({"type": "start_interview"}))
            ev = await until(ws, {"interview_started", "error"})
    check("an id under 16 characters is never resumed",
          not any(e.get("type") == "session_resumed" for e in ev), [e.get("type") for e in ev])


async def reply_at_sigterm(srv, mock):
    """SIGTERM while a reply is being generated: it finishes, then 1001."""
    async with websockets.connect(srv.url("/ws/sigterm-candidate-01"), max_size=None) as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "start_interview"}))
        await until(ws, {"interview_started"})
        await ws.send(json.dumps({"type": "audio_chunk", "data": SAMPLES}))
        await ws.send(json.dumps({"type": "send_for_AI_processing"}))
        await until(ws, {"thinking"})
        srv.proc.send_signal(signal.SIGTERM)
        t0 = time.time()
        done = None
        try:
            while True:
                ev = await recv_json(ws, 20)
                if ev.get("type") == "ai_response_complete":
                    done = ev
        except websockets.ConnectionClosed:
            pass
        measure("sigterm_reply_to_close_ms", int((time.time() - t0) * 1000))
        check("SIGTERM mid-reply: the reply completes, then close 1001",
              done is not None and done["text"].strip() == REPLY and ws.close_code == 1001,
              (done, ws.close_code))
    check("the instance exits cleanly after the drain", srv.proc.wait(15) == 0)
    check("the interview was saved at shutdown", "session_saved" in srv.log())


def test_single():
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(reply=REPLY, delays={"token_ms": 20})
        with server_for(mock) as srv:
            run("one instance: resume", single_resume(srv, mock), [srv])
            run("one instance: short id", short_id(srv, mock), [srv])
        mock.configure(reply=REPLY, delays={"token_ms": 150})
        with server_for(mock, SHUTDOWN_TIMEOUT="15s") as srv:
            run("one instance: SIGTERM mid-reply", reply_at_sigterm(srv, mock), [srv])


# ---- three instances, Redis, HAProxy ----------------------------------------------

class Proxy:
    """A proxy in front of the instances, running one of deploy/'s files:
    started by __enter__ (ready once /health answers through it)."""
    name = "proxy"
    env = None  # the proxy's environment: None inherits ours

    def argv(self):
        raise NotImplementedError

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv(), env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"


class HAProxy(Proxy):
    """haproxy -db -f deploy/haproxy.cfg, addresses from the environment as the file says."""
    name = "haproxy"

    def __init__(self, backends):
        self.port = free_port()
        self.env = dict(os.environ, LISTEN=f"127.0.0.1:{self.port}",
                        **{f"APP{i + 1}": f"127.0.0.1:{b.port}" for i, b in enumerate(backends)})
        self.log = tempfile.TemporaryFile()

    def argv(self):
        return ["haproxy", "-db", "-f", os.path.join(HERE, "..", "..", "deploy", "haproxy.cfg")]


class Nginx(Proxy):
    """nginx running deploy/nginx.conf (an http-context file, as the official
    image's templates are), ${VARS} filled in as envsubst would."""
    name = "nginx"

    def __init__(self, backends):
        self.port = free_port()
        self.log = subprocess.DEVNULL
        self.tmp = tempfile.mkdtemp(prefix="interview-nginx-")
        with open(os.path.join(HERE, "..", "..", "deploy", "nginx.conf")) as f:
            text = f.read()
        subst = {"LISTEN": f"127.0.0.1:{self.port}",
                 **{f"APP{i + 1}": f"127.0.0.1:{b}" for i, b in enumerate(backends)}}
        for k, v in subst.items():
            text = text.replace("${" + k + "}", v)
        with open(os.path.join(self.tmp, "site.conf"), "w") as f:
            f.write(text)
        with open(os.path.join(self.tmp, "nginx.conf"), "w") as f:
            f.write(f"pid {self.tmp}/nginx.pid;\nerror_log {self.tmp}/error.log;\nevents {{ worker_connections 256; }}\n"
                    f"http {{ client_body_temp_path {self.tmp}; proxy_temp_path {self.tmp}; "
                    f"include {self.tmp}/site.conf; }}\n")

    def argv(self):
        return ["nginx", "-p", self.tmp, "-c", os.path.join(self.tmp, "nginx.conf"), "-g", "daemon off;"]


async def through_nginx(ngx, mock):
    """deploy/nginx.conf with one instance gone (passive checks): an
    interview, a reconnect through nginx, resumed."""
    cid = "nginx-candidate-000123"
    async with websockets.connect(ngx.url(f"/ws/{cid}"), max_size=None) as ws:
        check("through nginx: greeting", await greet(ws))
        await ws.send(json.dumps({"type": "start_interview"}))
        await until(ws, {"interview_started"})
        ev = await answer(ws)
        check("through nginx: a turn", ev[-1]["type"] == "ai_response_complete", ev[-1])
    async with websockets.connect(ngx.url(f"/ws/{cid}"), max_size=None) as ws:
        await recv_json(ws)
        r = await recv_json(ws)
        check("through nginx: the reconnect resumes with turns 1",
              r.get("type") == "session_resumed" and r.get("turns") == 1, r)


def run(name, coro, srvs):
    """One scenario; an exception (a timeout) is a failure with the instances' last log lines."""
    try:
        return asyncio.run(coro)
    except Exception as e:  # noqa: BLE001  (reported, not hidden)
        tails = "\n".join(f"--- instance {i + 1}\n" + "\n".join(x.log().splitlines()[-15:])
                          for i, x in enumerate(srvs) if x.proc.poll() is None)
        check(f"{name}: runs to the end", False, f"{e!r}\n{tails}")
        return None


def holder(srvs, cid):
    """The instance whose log shows the WebSocket for /ws/cid."""
    for i, s in enumerate(srvs):
        if f"id={cid} " in s.log():
            return i
    return -1


def wait_until(cond, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def wait_log(srv, text, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if text in srv.log():
            return True
        time.sleep(0.1)
    return False


async def rolling_restart(srvs, hap, mock):
    cid = "rolling-candidate-0042"
    async with websockets.connect(hap.url(f"/ws/{cid}"), max_size=None) as ws:
        check("through HAProxy: greeting", await greet(ws))
        await ws.send(json.dumps({"type": "start_interview"}))
        await until(ws, {"interview_started"})
        for k in (1, 2):
            ev = await answer(ws)
            check(f"through HAProxy: turn {k}", ev[-1]["type"] == "ai_response_complete", ev[-1])
        first = holder(srvs, cid)
        check("one instance holds the interview", first >= 0)
        srvs[first].proc.send_signal(signal.SIGTERM)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            pass
        check("SIGTERM: the idle interview is closed with 1001", ws.close_code == 1001, ws.close_code)
    check("the stopped instance exits cleanly", srvs[first].proc.wait(15) == 0)
    t0 = time.time()
    async with websockets.connect(hap.url(f"/ws/{cid}"), max_size=None) as ws:
        g = await recv_json(ws)
        r = await recv_json(ws)
        measure("reconnect_to_resumed_ms", int((time.time() - t0) * 1000))
        check("reconnect through HAProxy: greeting then session_resumed with turns 2",
              g.get("type") == "greeting" and r.get("type") == "session_resumed" and r.get("turns") == 2, (g, r))
        second = next((i for i, s in enumerate(srvs) if i != first and f"id={cid} " in s.log()), -1)
        check("the client landed on another instance", second >= 0 and second != first, (first, second))
        ev = await answer(ws)
        check("turn 3 on the other instance completes", ev[-1]["type"] == "ai_response_complete", ev[-1])
        hist = chat_history(mock)
        check(f"turn 3's chat request (instance {second + 1}) carries the first two turns (made on instance {first + 1})",
              [m["role"] for m in hist] == ["assistant", "user", "assistant", "user", "assistant", "user"] and
              hist[2]["content"].strip() == REPLY, [m["role"] for m in hist])
        await ws.send(json.dumps({"type": "end_interview"}))
        await until(ws, {"interview_ended"})
    return first


async def cross_replace(a, b, mock):
    """A live connection on instance a, a second one with the same id on b."""
    cid = "replace-candidate-0077"
    async with websockets.connect(a.url(f"/ws/{cid}"), max_size=None) as wa:
        await greet(wa)
        await wa.send(json.dumps({"type": "start_interview"}))
        await until(wa, {"interview_started"})
        ev = await answer(wa)
        check("instance A: one turn", ev[-1]["type"] == "ai_response_complete")
        async with websockets.connect(b.url(f"/ws/{cid}"), max_size=None) as wb:
            g = await recv_json(wb)
            r = await recv_json(wb)
            check("the same id on instance B: session_resumed with turns 1 (handed over through Redis)",
                  r.get("type") == "session_resumed" and r.get("turns") == 1, (g, r))
            try:
                while True:
                    await asyncio.wait_for(wa.recv(), 5)
            except websockets.ConnectionClosed:
                pass
            check("instance A closed its connection with 4000", wa.close_code == 4000, wa.close_code)
            await wb.send(json.dumps({"type": "end_interview"}))
            await until(wb, {"interview_ended"})


async def redis_outage(a, b, redis, mock):
    cid = "outage-candidate-0099"
    redis.stop()
    check("Redis stopped: the instances notice", wait_log(a, "redis_down") and wait_log(b, "redis_down"))
    async with websockets.connect(a.url(f"/ws/{cid}"), max_size=None) as ws:
        await greet(ws)
        await ws.send(json.dumps({"type": "start_interview"}))
        ev = await until(ws, {"interview_started", "error"})
        check("Redis down: a new interview starts", ev[-1]["type"] == "interview_started", ev[-1])
        ev = await answer(ws)
        check("Redis down: its turn completes", ev[-1]["type"] == "ai_response_complete", ev[-1])
    async with websockets.connect(a.url(f"/ws/{cid}"), max_size=None) as ws:
        await recv_json(ws)
        r = await recv_json(ws)
        check("Redis down: a reconnect to the same instance resumes from its memory",
              r.get("type") == "session_resumed" and r.get("turns") == 1, r)
        ev = await answer(ws)
        check("Redis down: the resumed interview continues", ev[-1]["type"] == "ai_response_complete", ev[-1])
    ups = [x.log().count("redis_up conn=commands") for x in (a, b)]
    redis.start()
    check("Redis back: the instances reconnect",
          wait_until(lambda: a.log().count("redis_up conn=commands") > ups[0] and
                     b.log().count("redis_up conn=commands") > ups[1], 30))
    check("Redis back: what was saved during the outage is put there again",
          wait_until(lambda: redis.cli("EXISTS", f"interview:session:{cid}") == "1"))
    async with websockets.connect(b.url(f"/ws/{cid}"), max_size=None) as ws:
        await recv_json(ws)
        r = await recv_json(ws)
        check("Redis back: the interview saved on A during the outage resumes on B",
              r.get("type") == "session_resumed" and r.get("turns") == 2, r)
    cid = "after-outage-candidate-01"
    async with websockets.connect(a.url(f"/ws/{cid}"), max_size=None) as ws:
        await greet(ws)
        await ws.send(json.dumps({"type": "start_interview"}))
        await until(ws, {"interview_started"})
        await answer(ws)
    async with websockets.connect(b.url(f"/ws/{cid}"), max_size=None) as ws:
        await recv_json(ws)
        r = await recv_json(ws)
        check("Redis back: an interview saved on one instance resumes on another",
              r.get("type") == "session_resumed" and r.get("turns") == 1, r)
        check("the blob left Redis when it was taken (GETDEL)", redis.cli("EXISTS", f"interview:session:{cid}") == "0")
    check("closing saves it to Redis again (SET PX SESSION_TTL)",
          wait_until(lambda: 0 < int(redis.cli("PTTL", f"interview:session:{cid}") or -1) <= 1800000))
    async with websockets.connect(b.url(f"/ws/{cid}"), max_size=None) as ws:
        await recv_json(ws)
        r = await recv_json(ws)
        check("a reconnect to the same instance resumes from its memory (local hit)",
              r.get("type") == "session_resumed" and r.get("turns") == 1, r)
        check("a local hit claims the id in Redis: the Redis copy goes, owner is set",
              wait_until(lambda: redis.cli("EXISTS", f"interview:session:{cid}") == "0") and
              redis.cli("EXISTS", f"interview:owner:{cid}") == "1")


async def stream_through_haproxy(srvs, hap):
    """Seed 004 sessions spread over the three instances: a chat sent on one
    reaches all; status and disconnect through HAProxy (which hashes the id,
    so most land on an instance that does not hold the session) answer for
    every session."""
    import urllib.request

    def http(method, path):
        req = urllib.request.Request(f"http://127.0.0.1:{hap.port}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, {}

    async def first(ws, kind):
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m.get("type") == kind:
                return m

    ids = [f"haproxy-stream-{i}" for i in range(3)]
    wss = []
    for s, sid in zip(srvs, ids):
        ws = await websockets.connect(s.url(f"/api/stream/ws/{sid}"))
        await first(ws, "connection_established")
        wss.append(ws)
    await asyncio.sleep(1.0)  # the registry: each instance has published its session
    await wss[0].send(json.dumps({"type": "chat", "message": "hello everyone"}))
    got = [await first(ws, "chat_message") for ws in wss]
    check("seed 004 over three instances: a chat sent on one reaches the sessions on all three",
          all(m.get("message") == "hello everyone" for m in got), got)
    st = [http("GET", f"/api/stream/status/{sid}") for sid in ids]
    check("seed 004 status through HAProxy answers for every session (whichever instance holds it)",
          all(code == 200 and body.get("session_id") == sid and body.get("connected") is True
              for (code, body), sid in zip(st, ids)), st)
    dc = [http("DELETE", f"/api/stream/disconnect/{sid}")[0] for sid in ids]
    closed = []
    for ws in wss:
        try:
            await asyncio.wait_for(ws.wait_closed(), 5)
            closed.append(True)
        except asyncio.TimeoutError:
            closed.append(False)
    check("seed 004 disconnect through HAProxy closes every session", dc == [200] * 3 and all(closed), (dc, closed))


def test_scaleout():
    if not shutil.which("redis-server") or not shutil.which("haproxy"):
        check("redis-server and haproxy are installed (build.sh test_tools installs them)", False)
        return
    redis = Redis().start()
    try:
        with MockOpenAI(cert_dir=CERTS) as mock:
            mock.configure(reply=REPLY, delays={"token_ms": 20})
            env = {"REDIS_URL": redis.url(), "TRUSTED_PROXIES": "127.0.0.1"}
            with server_for(mock, **env) as s1, server_for(mock, **env) as s2, server_for(mock, **env) as s3:
                srvs = [s1, s2, s3]
                with HAProxy(srvs) as hap:
                    run("seed 004 through HAProxy", stream_through_haproxy(srvs, hap), srvs)
                    gone = run("rolling restart", rolling_restart(srvs, hap, mock), srvs)
                if gone is None:
                    return
                live = [s for i, s in enumerate(srvs) if i != gone]
                if shutil.which("nginx"):
                    with Nginx([s.port for s in srvs]) as ngx:
                        run("nginx", through_nginx(ngx, mock), live)
                else:
                    check("nginx is installed (build.sh test_tools installs it)", False)
                run("replacement across instances", cross_replace(live[0], live[1], mock), live)
                run("Redis outage", redis_outage(live[0], live[1], redis, mock), live)
    finally:
        redis.stop()
        shutil.rmtree(redis.tmp, ignore_errors=True)


async def rediss_restart(a, b, mock):
    """SIGTERM on a, the interview resumes on b, over rediss:// with the password from a file."""
    cid = "rediss-candidate-000555"
    async with websockets.connect(a.url(f"/ws/{cid}"), max_size=None) as ws:
        await greet(ws)
        await ws.send(json.dumps({"type": "start_interview"}))
        await until(ws, {"interview_started"})
        ev = await answer(ws)
        check("rediss://: a turn on instance A", ev[-1]["type"] == "ai_response_complete", ev[-1])
        a.proc.send_signal(signal.SIGTERM)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            pass
    check("rediss://: instance A exits cleanly after saving", a.proc.wait(15) == 0)
    async with websockets.connect(b.url(f"/ws/{cid}"), max_size=None) as ws:
        await recv_json(ws)
        r = await recv_json(ws)
        check("rediss://: the interview resumes on instance B with turns 1",
              r.get("type") == "session_resumed" and r.get("turns") == 1, r)
        ev = await answer(ws)
        hist = chat_history(mock)
        check("rediss://: B's next chat request carries A's turn",
              ev[-1]["type"] == "ai_response_complete" and
              [m["role"] for m in hist] == ["assistant", "user", "assistant", "user"], [m["role"] for m in hist])


def test_rediss():
    """Redis with requirepass and a TLS port (a throwaway CA)."""
    tmp = tempfile.mkdtemp(prefix="interview-rediss-")
    redis = Redis(tmp, password="redis-test-pw", tls=True)
    redis.start()
    try:
        with MockOpenAI(cert_dir=CERTS) as mock:
            mock.configure(reply=REPLY, delays={"token_ms": 20})
            bundle = os.path.join(tmp, "bundle.pem")  # one CA source per process: the mock's and Redis's
            with open(bundle, "w") as out, open(mock.ca) as m, open(os.path.join(tmp, "ca.pem")) as r:
                out.write(m.read() + r.read())
            env = {"REDIS_URL": f"rediss://localhost:{redis.tls_port}/2", "REDIS_PASSWORD_FILE": os.path.join(tmp, "pw"),
                   "SSL_CERT_FILE": bundle}
            with server_for(mock, **env) as a, server_for(mock, **env) as b:
                check("rediss://: both instances connect", wait_log(a, "redis_up conn=commands") and
                      wait_log(b, "redis_up conn=commands"))
                run("rediss://", rediss_restart(a, b, mock), [a, b])
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_readme():
    root = os.path.join(HERE, "..", "..")
    with open(os.path.join(root, "deploy", "haproxy.cfg")) as f:
        body = f.read().strip()
    with open(os.path.join(root, "README.md")) as f:
        check("README.md quotes deploy/haproxy.cfg verbatim", body in f.read())


def test_compose():
    """deploy/compose.yaml against the Compose schema (docker-compose v1 from
    Debian; no container engine or image registry here, so it is not run).
    v1 predates the Compose Specification's top-level `name:`, so it checks a
    copy without that line; the services, secrets and network are all checked."""
    if not shutil.which("docker-compose"):
        check("docker-compose is installed (build.sh test_tools installs it)", False)
        return
    root = os.path.join(HERE, "..", "..")
    tmp = tempfile.mkdtemp(prefix="interview-compose-")
    deploy = os.path.join(tmp, "deploy")
    shutil.copytree(os.path.join(root, "deploy"), deploy)
    with open(os.path.join(deploy, "compose.yaml")) as f:
        text = "".join(x for x in f if not x.startswith("name:"))
    with open(os.path.join(deploy, "compose.yaml"), "w") as f:
        f.write(text)
    for secret in ("openai_api_key", "redis_password"):
        with open(os.path.join(deploy, secret), "w") as f:
            f.write("x")
    r = subprocess.run(["docker-compose", "-f", os.path.join(deploy, "compose.yaml"), "config"],
                       capture_output=True, text=True, timeout=60)
    services = r.stdout.split("\nservices:\n", 1)[-1] if r.returncode == 0 else ""
    check("deploy/compose.yaml is a valid Compose file: Redis, three instances, HAProxy",
          r.returncode == 0 and all(f"\n  {name}:\n" in "\n" + services for name in ("app1", "app2", "app3", "haproxy", "redis")),
          r.stderr[-500:] or r.stdout[:500])


if __name__ == "__main__":
    test_readme()
    test_compose()
    test_single()
    test_scaleout()
    test_rediss()
    finish()
