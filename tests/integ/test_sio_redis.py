"""Socket.IO coach sessions across instances (issue 17): Debian's real
redis-server (redisutil.Redis), the mock OpenAI, two instances on loopback
with REDIS_URL, and socket.io-client v4 (tests/coach/sio_redis.mjs): an
interview answers two questions on A, its transport is cut, A saves the
socket (recovery state, replay buffer, the coach) to Redis and, once the
missed q3 audio is in the saved copy, is killed (SIGKILL); the client
reconnects to B with {pid, offset}: recovered, offsets continue, q3 is
answered on B and the report covers all three answers. Then the saved key is
gone (claimed); again with A alive (the claim frees A's copy); an unknown pid
gets a new socket; with Redis down recovery stays local as before."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COACH = os.path.join(HERE, "..", "coach")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from redisutil import Redis  # noqa: E402
from test_redis import PASS, wait_log  # noqa: E402
from wsutil import Server, check, finish, measure  # noqa: E402

_spec = importlib.util.spec_from_file_location("coach_run", os.path.join(COACH, "run.py"))
coach_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coach_run)


def saved_sockets(redis):
    """{key: parsed saved socket} for every interview:sio:* key."""
    out = {}
    for key in redis.cli("--scan", "--pattern", "interview:sio:*").split():
        v = redis.cli("GET", key)
        try:
            out[key] = json.loads(v)
        except ValueError:
            out[key] = v
    return out


def has_q3_audio(saved):
    return any(isinstance(s, dict) and any("question_audio" in e[1] and '"q3"' in e[1] for e in s.get("out", []))
               for s in saved.values())


def across(redis, mock, webm, kill):
    plain = f"redis://:{PASS}@127.0.0.1:{redis.port}/0"
    env = {"REDIS_URL": plain, "OPENAI_API_KEY": mock.api_key, "OPENAI_BASE_URL": mock.base_url,
           "SSL_CERT_FILE": mock.ca}
    with Server(**env) as a, Server(**env) as b:
        check("both instances reach Redis", wait_log(a, "redis_up", 30) and wait_log(b, "redis_up", 30))
        node = subprocess.Popen(["node", os.path.join(COACH, "sio_redis.mjs")], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, COACH_URL=f"http://127.0.0.1:{a.port}",
                                         COACH_URL_B=f"http://127.0.0.1:{b.port}", COACH_WEBM=webm))
        lines = []
        for line in node.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("# dropped"):
                t0, saved = time.time(), {}
                while time.time() - t0 < 15 and not has_q3_audio(saved):
                    time.sleep(0.05)
                    saved = saved_sockets(redis)
                measure("sio_saved_with_q3_audio_ms", round((time.time() - t0) * 1000, 1))
                check("A saved the dropped socket to Redis, the q3 audio made after the cut included",
                      has_q3_audio(saved), str(saved)[:500])
                key = next(iter(saved), "")
                ttl = int(redis.cli("PTTL", key) or -2)
                check("the saved socket expires with SIO_RECOVERY_WINDOW (2 min)", 0 < ttl <= 120000, ttl)
                s = next(iter(saved.values()), {})
                check("the saved coach carries its questions and the two analyses",
                      isinstance(s, dict) and len(s.get("app", {}).get("q", [])) == 8 and
                      [q["id"] for q in s["app"]["q"] if "analysis" in q] == ["q1", "q2"], str(s)[:300])
                measure("sio_saved_bytes", len(json.dumps(s)))
                if kill:  # A is gone for good: B has only Redis
                    a.proc.kill()
                    a.proc.wait()
        node.wait(timeout=90)
        for line in lines:
            if line.startswith("ok   "):
                check(line[5:], True)
            elif line.startswith("FAIL"):
                check(line[5:], False)
            elif line.startswith("#"):
                print(line, flush=True)
        check("sio_redis.mjs ran to the end", node.returncode == 0 and any(x.startswith("ok") for x in lines))
        check("B restored the socket from Redis", "recovered=redis replay=yes" in b.log(), b.log()[-1500:])
        check("B claimed it: the saved copy is deleted", saved_sockets(redis) == {}, saved_sockets(redis))
        if not kill:
            check("A alive: B's claim freed A's copy", wait_log(a, "sio_session_moved", 5), a.log()[-1500:])
            unknown(b)


def unknown(srv):
    """A recovery CONNECT for a pid no instance saved: a new socket (no recovered pid)."""
    ws = coach_run.raw_sio(srv)
    ws.recv()  # the Engine.IO open packet
    ws.send('40{"pid":"AAAAAAAAAAAAAAAAAAAA","offset":"3"}')
    ans = ws.recv()
    body = json.loads(ans[2:]) if isinstance(ans, str) and ans.startswith("40{") else {}
    check("an unknown pid gets a new socket after the GET (not recovered)",
          body.get("pid") not in (None, "AAAAAAAAAAAAAAAAAAAA") and "recovered=0" in srv.log(), ans)
    ws.close()


def redis_down(redis, mock, webm):
    """Redis unreachable: the coach and its local recovery work as before."""
    env = {"REDIS_URL": f"redis://:{PASS}@127.0.0.1:{redis.port}/0", "OPENAI_API_KEY": mock.api_key,
           "OPENAI_BASE_URL": mock.base_url, "SSL_CERT_FILE": mock.ca}
    redis.stop()
    try:
        with Server(**env) as srv:
            coach_run.node(srv, webm, "text")
            check("Redis down: the drop recovered locally", "recovered=1 replay=yes" in srv.log(), srv.log()[-1500:])
    finally:
        redis.start()


def main():
    if not shutil.which("redis-server"):
        check("redis-server installed (apt-get install -y redis-server)", False)
        finish()
    if not coach_run.npm_ready():
        check("npm ci in tests/coach", False)
        finish()
    tmp = tempfile.mkdtemp(prefix="test_sio_redis_")
    redis = Redis(tmp, password=PASS, tls=True)
    redis.start()
    try:
        webm = coach_run.make_webm(tmp)
        with MockOpenAI(cert_dir=tmp) as mock:
            mock.configure(transcript=coach_run.TRANSCRIPT)
            across(redis, mock, webm, kill=True)
            across(redis, mock, webm, kill=False)
            redis_down(redis, mock, webm)
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
