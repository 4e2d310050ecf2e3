"""Several instances sharing seed 004 state through Debian's real redis-server
(started here on a loopback port, temp dir, requirepass; a TLS port with a
throwaway CA): chat delivered once to sessions on every instance; status and
disconnect answered by any instance; a second connection with the same id on
another instance replaces the first (4000); the registry keys in Redis; Redis
stopped (everything local, nothing blocks), started again (sharing resumes);
the same over rediss:// with the password from REDIS_PASSWORD_FILE."""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
from redisutil import Redis  # noqa: E402
from wsutil import BIN, Server, check, finish, free_port, measure  # noqa: E402

PASS = "redis-test-pw"


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, typ, timeout=5):
    end = time.time() + timeout
    while True:
        m = await recv_json(ws, max(0.05, end - time.time()))
        if m.get("type") == typ:
            return m


async def quiet(ws, secs=0.5):
    """Nothing more arrives within secs (no duplicate delivery)."""
    try:
        m = await asyncio.wait_for(ws.recv(), secs)
        return json.loads(m)
    except asyncio.TimeoutError:
        return None


async def wait_status(srv, sid, want, secs=8):
    end = time.time() + secs
    while True:
        st, _, body = srv.http(f"/api/stream/status/{sid}")
        if st == want or time.time() > end:
            return st, body
        await asyncio.sleep(0.1)


def wait_log(srv, text, secs=10):
    end = time.time() + secs
    while time.time() < end:
        if text in srv.log():
            return True
        time.sleep(0.1)
    return False


async def connect(srv, sid):
    ws = await websockets.connect(srv.url(f"/api/stream/ws/{sid}"))
    await recv_type(ws, "connection_established")
    return ws


async def shared(srvs, redis, label):
    a, b, c = srvs
    wa, wb, wc = await connect(a, "sess-a"), await connect(b, "sess-b"), await connect(c, "sess-c")
    wa2 = await connect(a, "sess-a2")
    await asyncio.sleep(0.3)
    t0 = time.time()
    await wa.send(json.dumps({"type": "chat", "message": f"hello from a ({label})"}))
    got = [await recv_type(w, "chat_message") for w in (wa, wa2, wb, wc)]
    measure(f"{label}_chat_all_instances_ms", round((time.time() - t0) * 1000, 1))
    check(f"{label}: a chat on instance 1 reaches sessions on all three instances",
          all(m["message"] == f"hello from a ({label})" and m["session_id"] == "sess-a" for m in got), got)
    dups = [await quiet(w, 0.4) for w in (wa, wa2, wb, wc)]
    check(f"{label}: delivered once per session (no echo of the instance's own publish)",
          dups == [None] * 4, dups)
    st, body = await wait_status(a, "sess-c", 200)
    j = json.loads(body)
    check(f"{label}: status on instance 1 answers for a session on instance 3",
          st == 200 and j["connected"] is True and j["session_id"] == "sess-c" and "instance" in j, (st, body))
    st, _, body = a.http("/api/stream/status/nobody")
    check(f"{label}: status of an unknown session is still 404", st == 404, (st, body))
    if redis:
        v = redis.cli("GET", "interview:stream:session:sess-b")
        check(f"{label}: the registry key of a session is in Redis with a TTL",
              '"session_id":"sess-b"' in v and 0 < int(redis.cli("PTTL", "interview:stream:session:sess-b")) <= 15000, v)
    st, _, body = a.http("/api/stream/disconnect/sess-c", "DELETE")
    check(f"{label}: disconnect on instance 1 of a session on instance 3 -> 200", st == 200, (st, body))
    try:
        await asyncio.wait_for(wc.wait_closed(), 5)
    except asyncio.TimeoutError:
        pass
    check(f"{label}: the owning instance closed it (1000)", wc.close_code == 1000, wc.close_code)
    st, _ = await wait_status(b, "sess-c", 404, 3)
    check(f"{label}: and it is gone from the others' status", st == 404, st)
    # the same id on another instance replaces the first
    wb_new = await connect(c, "sess-b")
    try:
        await asyncio.wait_for(wb.wait_closed(), 5)
    except asyncio.TimeoutError:
        pass
    check(f"{label}: a second connection with the same id on another instance replaces the first (4000)",
          wb.close_code == 4000, wb.close_code)
    for w in (wa, wa2, wb_new):
        await w.close()


async def outage(srvs, redis):
    a, b, _ = srvs
    wa, wa2, wb = await connect(a, "out-a"), await connect(a, "out-a2"), await connect(b, "out-b")
    await wait_status(b, "out-a", 200)
    redis.stop()
    check("Redis stopped: the instances log it once", wait_log(a, "redis_down") and wait_log(b, "redis_down"))
    t0 = time.time()
    await wa.send(json.dumps({"type": "chat", "message": "while redis is down"}))
    m1, m2 = await recv_type(wa, "chat_message"), await recv_type(wa2, "chat_message")
    measure("chat_local_while_redis_down_ms", round((time.time() - t0) * 1000, 1))
    check("Redis down: chat still reaches the sessions of the same instance", m1["message"] == m2["message"])
    await wb.send(json.dumps({"type": "ping"}))
    check("Redis down: the other instance keeps serving", (await recv_type(wb, "pong"))["type"] == "pong")
    st, _ = await wait_status(b, "out-a", 404, 3)
    check("Redis down: other instances' sessions are out of reach (404), local ones answer",
          st == 404 and a.http("/api/stream/status/out-a")[0] == 200, st)
    redis.start()
    check("Redis back: both instances reconnect", wait_log(a, "redis_up") and wait_log(b, "redis_up"))
    st, body = await wait_status(b, "out-a", 200, 10)
    check("Redis back: the registry is shared again (resynchronised)", st == 200, (st, body))
    await asyncio.sleep(0.3)
    await wb.send(json.dumps({"type": "chat", "message": "redis is back"}))
    got = [await recv_type(w, "chat_message") for w in (wa, wa2, wb)]
    check("Redis back: chat crosses instances again", all(m["message"] == "redis is back" for m in got), got)
    for w in (wa, wa2, wb):
        await w.close()


def avoid_minute_edge():
    """Shared counts are per wall-clock minute: do not straddle one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


async def limits(a, b):
    avoid_minute_edge()

    async def turn(srv, sid):
        ws = await connect(srv, sid)
        await ws.send(json.dumps({"type": "transcription_request"}))
        m = await recv_json(ws)
        await ws.close()
        return m
    got = [await turn(a, f"lim-a{i}") for i in range(3)] + [await turn(b, "lim-b0")]
    check("AI turns per address: 3 on instance 1 and 1 on instance 2 are admitted (limit 4)",
          all(m["type"] == "transcription_error" for m in got), got)
    await asyncio.sleep(0.2)
    m = await turn(b, "lim-b1")
    check("the 5th, on instance 2, is refused: AI_TURNS_PER_MINUTE_PER_IP counted across instances",
          m["type"] == "error" and m["code"] == "RATE_LIMITED", m)


def ws_shares(redis):
    """The instances' shares of MAX_WEBSOCKETS_PER_IP in Redis: {instance: count}."""
    shares = {}
    for key in redis.cli("--scan", "--pattern", "interview:limit:ws:*").split():
        lines = redis.cli("HGETALL", key).split("\n")
        for field, value in zip(lines[::2], lines[1::2]):
            shares[field] = int(value.split(":")[0])
    return shares


async def ws_limits(a, b, redis):
    held = [await connect(a, "ws-a0"), await connect(a, "ws-a1")]
    # Instance 2 reads the others' shares when its own WebSockets open or
    # close (README: the view may lag): its open below must come after
    # instance 1's share of 2 is in Redis, or it could not know of it.
    end = time.time() + 5
    while 2 not in ws_shares(redis).values() and time.time() < end:
        await asyncio.sleep(0.05)
    check("instance 1's share (2 WebSockets) is in Redis: HSET limit:ws:<address>", 2 in ws_shares(redis).values(),
          ws_shares(redis))
    held.append(await connect(b, "ws-b0"))
    await asyncio.sleep(0.2)
    try:
        extra = await connect(b, "ws-b1")
        await extra.close()
        refused = None
    except Exception as e:  # websockets raises on a non-101 answer
        refused = str(e)
    check("MAX_WEBSOCKETS_PER_IP=3 across instances: 2 on instance 1 + 1 on instance 2, the 4th on instance 2 "
          "gets 429", refused is not None and "429" in refused, refused)
    await held[0].close()
    await asyncio.sleep(0.3)
    # instance 2's view of the others is refreshed by its own opens, closes and
    # refusals (and every 20 s): a refusal on a stale count brings it up to date
    tries, ok = 0, None
    while ok is not True and tries < 3:
        tries += 1
        try:
            again = await connect(b, "ws-b1")
            await again.close()
            ok = True
        except Exception as e:
            ok = str(e)
            await asyncio.sleep(0.2)
    measure("ws_limit_tries_after_close_elsewhere", tries)
    check("after one closes on instance 1, instance 2 admits one more (within two tries)", ok is True and tries <= 2,
          (tries, ok))
    for w in held[1:]:
        await w.close()


def auth_limits(a, b):
    avoid_minute_edge()

    def wrong(srv):
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/api/stream/status/x",
                                     headers={"Authorization": "Bearer wrong-token-0123456789"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
    got = [wrong(a), wrong(a), wrong(b)]
    time.sleep(0.2)
    got.append(wrong(b))
    check("failed credentials: 2 on instance 1 + 1 on instance 2, then 429 on instance 2 "
          "(AUTH_FAILURES_PER_MINUTE=3 across instances)", got == [401, 401, 401, 429], got)


def config(redis, tmp):
    env = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(free_port())}
    r = subprocess.run([BIN], env={**env, "REDIS_URL": "redis://:topsecret@h:99999"}, capture_output=True,
                       timeout=10)
    err = r.stderr.decode()
    check("a bad REDIS_URL exits 2 naming it, without the password",
          r.returncode == 2 and "REDIS_URL" in err and "topsecret" not in err, err)
    r = subprocess.run([BIN], env={**env, "REDIS_URL": f"redis://:{PASS}@127.0.0.1:{redis.port}",
                                   "REDIS_PASSWORD_FILE": os.path.join(tmp, "pw")}, capture_output=True, timeout=10)
    check("a password in REDIS_URL and REDIS_PASSWORD_FILE both: exit 2", r.returncode == 2, r.stderr)
    port = free_port()
    p = subprocess.Popen([BIN, "--redis-url", f"redis://:{PASS}@127.0.0.1:{redis.port}"],
                         env={**env, "PORT": str(port)}, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    time.sleep(2.0)  # connected to Redis by then (a few ms normally)
    with open(f"/proc/{p.pid}/cmdline", "rb") as f:
        cmdline = f.read()
    p.terminate()
    _, err = p.communicate(timeout=20)
    err = err.decode()
    check("--redis-url is wiped from /proc/PID/cmdline and warned about, the password never logged",
          PASS.encode() not in cmdline and "secret_on_command_line" in err and "REDIS_URL" in err and
          PASS not in err and "redis_up" in err, err[-800:])


def main():
    if not shutil.which("redis-server"):
        check("redis-server installed (apt-get install -y redis-server)", False)
        finish()
    tmp = tempfile.mkdtemp(prefix="test_redis_")
    redis = Redis(tmp, password=PASS, tls=True)
    redis.start()
    try:
        plain = f"redis://:{PASS}@127.0.0.1:{redis.port}/0"
        config(redis, tmp)
        with Server(REDIS_URL=plain) as a, Server(REDIS_URL=plain) as b, Server(REDIS_URL=plain) as c:
            for s in (a, b, c):
                wait_log(s, "redis_up") or time.sleep(0.5)
            asyncio.run(shared((a, b, c), redis, "redis://"))
            asyncio.run(outage((a, b, c), redis))
            check("the password is never logged", all(PASS not in s.log() for s in (a, b, c)))
        lim = {"REDIS_URL": plain, "AI_TURNS_PER_MINUTE_PER_IP": 4}
        with Server(**lim) as a, Server(**lim) as b:
            wait_log(a, "redis_up") and wait_log(b, "redis_up")
            asyncio.run(limits(a, b))
        lim = {"REDIS_URL": plain, "MAX_WEBSOCKETS_PER_IP": 3}
        with Server(**lim) as a, Server(**lim) as b:
            wait_log(a, "redis_up") and wait_log(b, "redis_up")
            asyncio.run(ws_limits(a, b, redis))
        tok = {"REDIS_URL": plain, "INTERVIEW_AUTH_TOKEN": "good-token-0123456789", "AUTH_FAILURES_PER_MINUTE": 3}
        with Server(**tok) as a, Server(**tok) as b:
            wait_log(a, "redis_up") and wait_log(b, "redis_up")
            auth_limits(a, b)
        tls = f"rediss://localhost:{redis.tls_port}/1"
        env = {"REDIS_URL": tls, "REDIS_PASSWORD_FILE": os.path.join(tmp, "pw"),
               "SSL_CERT_FILE": os.path.join(tmp, "ca.pem")}
        with Server(**env) as a, Server(**env) as b, Server(**env) as c:
            asyncio.run(shared((a, b, c), None, "rediss://"))
        with Server() as a, Server() as b:
            async def alone():
                wa, wb = await connect(a, "solo-a"), await connect(b, "solo-b")
                await wa.send(json.dumps({"type": "chat", "message": "local"}))
                await recv_type(wa, "chat_message")
                check("without REDIS_URL instances share nothing (as before)",
                      await quiet(wb, 0.5) is None and b.http("/api/stream/status/solo-a")[0] == 404)
                await wa.close()
                await wb.close()
            asyncio.run(alone())
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
