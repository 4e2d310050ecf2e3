"""GET /metrics and the per-turn breakdown, checked against what the test did:
turns on /ws/ against the mock OpenAI (real TLS), refusals (origin, per-IP,
auth on the metrics token, a bad request), then the page's values compared
exactly with the test's own counts, `promtool check metrics` on the page, and
Debian's real `prometheus` scraping the binary and answering /api/v1/query.
The coach counters (Socket.IO) are checked for presence only here: tests/coach/run.py
checks them exactly after its Node socket.io-client interviews."""
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import Server, check, run_tests, free_port, measure, raw_http, status_of, upgrade_request  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="interview-ca-")
REPLY = "Thanks for sharing that. How did you decide which metrics mattered most?"
TOKEN = "metrics-token-0123456789"
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(page):
    """{(name, ((label, value), ...)): float} of every sample; the labels sorted."""
    out = {}
    for line in page.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError(f"unparsable line {line!r}")
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def val(page, name, **labels):
    return page.get((name, tuple(sorted(labels.items()))), None)


def scrape(srv, token=None, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/metrics", method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Client:
    """A /ws/ client that counts every data message both ways (to compare with the page)."""

    def __init__(self, ws):
        self.ws, self.sent, self.sent_bytes, self.got = ws, 0, 0, 0

    async def send(self, obj):
        text = json.dumps(obj)
        self.sent += 1
        self.sent_bytes += len(text.encode())
        await self.ws.send(text)

    async def recv(self, timeout=20):
        m = await asyncio.wait_for(self.ws.recv(), timeout)
        self.got += 1
        return m if isinstance(m, bytes) else json.loads(m)

    async def until(self, kinds, timeout=20):
        out = []
        end = time.time() + timeout
        while True:
            m = await self.recv(max(0.1, end - time.time()))
            out.append(m)
            if isinstance(m, dict) and m.get("type") in kinds:
                return out

    async def drain_to_close(self):
        try:
            while True:
                await self.recv(5)
        except websockets.ConnectionClosed:
            pass


def answer_samples(seed):
    return [(seed * 31 + i) % 2000 - 1000 for i in range(1024)]


async def turns_flow(srv, mock, did):
    """Two interviews: one asks for turn_metrics (opening + 2 answers + 1 failed),
    one does not (opening only)."""
    async with websockets.connect(srv.url("/ws/metrics-a"), max_size=None) as ws:
        a = Client(ws)
        await a.recv()  # greeting
        await a.send({"type": "start_interview", "metrics": True})
        ev = await a.until({"turn_metrics"})
        tm = ev[-1]
        check("start_interview metrics:true -> turn_metrics after the opening (kind opening, completed)",
              tm.get("kind") == "opening" and tm.get("result") == "completed" and tm.get("stt_ms") is None, tm)
        check("opening turn_metrics: first token <= first sentence <= first audio <= total (ms)",
              all(isinstance(tm.get(k), (int, float)) for k in ("first_token_ms", "first_sentence_ms",
                                                                 "first_audio_ms", "total_ms", "tts_first_byte_ms"))
              and tm["first_token_ms"] <= tm["first_sentence_ms"] <= tm["first_audio_ms"] <= tm["total_ms"], tm)
        check("turn_metrics comes after interview_started", any(isinstance(m, dict) and m.get("type") ==
                                                                "interview_started" for m in ev))
        did["opening"] += 1
        did["completed"] += 1
        for k in range(2):
            await a.send({"type": "audio_chunk", "data": answer_samples(k)})
            await a.until({"amplitude"})
            await a.send({"type": "send_for_AI_processing"})
            ev = await a.until({"turn_metrics"})
            tm = ev[-1]
            check(f"answer {k + 1}: turn_metrics (answer, completed, stt <= first_token <= first_audio <= total)",
                  tm.get("kind") == "answer" and tm.get("result") == "completed" and
                  0 <= tm["stt_ms"] <= tm["first_token_ms"] <= tm["first_audio_ms"] <= tm["total_ms"]
                  and tm["tokens"] > 0 and tm["audio_ms"] > 0 and tm["retries"] == 0, tm)
            did["answer"] += 1
            did["completed"] += 1
        mock.configure(faults={"transcriptions": ["401"]})  # not retried: one failed request
        await a.send({"type": "audio_chunk", "data": answer_samples(9)})
        await a.until({"amplitude"})
        await a.send({"type": "send_for_AI_processing"})
        ev = await a.until({"turn_metrics"})
        tm = ev[-1]
        errs = [m for m in ev if isinstance(m, dict) and m.get("type") == "error"]
        check("failed transcription -> error, then turn_metrics result failed, error transcription",
              errs and tm.get("result") == "failed" and tm.get("error") == "transcription" and
              tm.get("stt_ms") is None, (errs, tm))
        mock.configure(faults={"transcriptions": []})
        did["answer"] += 1
        did["failed"] += 1
        mid = parse(scrape(srv)[2])
        check("while the interview is open: interview_connections{route=client,state=websocket} == 1",
              val(mid, "interview_connections", route="client", state="websocket") == 1)
        check("the scrape itself: interview_connections{route=metrics,state=http} == 1",
              val(mid, "interview_connections", route="metrics", state="http") == 1)
        await a.send({"type": "end_interview"})
        await a.drain_to_close()
        did["close_1000"] += 1
        did["in"] += a.sent
        did["in_bytes"] += a.sent_bytes
        did["out"] += a.got

    async with websockets.connect(srv.url("/ws/metrics-b"), max_size=None) as ws:
        b = Client(ws)
        await b.recv()
        await b.send({"type": "start_interview"})
        await b.until({"interview_started"})
        late = []
        try:
            while True:
                late.append(await b.recv(1.0))
        except asyncio.TimeoutError:
            pass
        check("without metrics:true no turn_metrics event", not any(isinstance(m, dict) and m.get("type") ==
                                                                    "turn_metrics" for m in late), late)
        await b.send({"type": "start_interview", "metrics": "yes"})
        m = await b.recv()
        check("metrics of the wrong type -> INVALID_MESSAGE", m.get("type") == "error" and
              m.get("code") == "INVALID_MESSAGE", m)
        did["opening"] += 1
        did["completed"] += 1
        await b.send({"type": "end_interview"})
        await b.drain_to_close()
        did["close_1000"] += 1
        did["in"] += b.sent
        did["in_bytes"] += b.sent_bytes
        did["out"] += b.got


async def refusals_flow(srv, did):
    # origin: a foreign page
    r = raw_http(srv.port, upgrade_request("/ws/evil", extra="Origin: http://evil.example\r\n"))
    check("foreign Origin -> 403", status_of(r) == 403, r[:80])
    did["origin"] += 1
    # per-IP WebSockets (MAX_WEBSOCKETS_PER_IP=2)
    async with websockets.connect(srv.url("/ws/p1")) as w1, websockets.connect(srv.url("/ws/p2")) as w2:
        await w1.recv()
        await w2.recv()
        r = raw_http(srv.port, upgrade_request("/ws/p3"))
        check("third WebSocket from one address -> 429", status_of(r) == 429, r[:80])
        did["per_ip"] += 1
    # a bad request: no upgrade on a WebSocket path
    r = raw_http(srv.port, b"GET /ws/plain HTTP/1.1\r\nHost: localhost\r\n\r\n")
    check("GET /ws/x without upgrade -> 426", status_of(r) == 426, r[:80])
    did["bad_request"] += 1


def prometheus_check(srv, turns_completed, turns_total):
    """Debian's prometheus scrapes the binary; its API says the target is up and
    interview_turns_total equals the turns run."""
    binpath = shutil.which("prometheus")
    if not binpath:
        check("prometheus installed (apt-get install prometheus)", False)
        return
    work = tempfile.mkdtemp(prefix="interview-prom-")
    port = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: interview\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{srv.port}']\n")
    log = open(os.path.join(work, "prometheus.log"), "w+")
    proc = subprocess.Popen([binpath, f"--config.file={cfg}", f"--storage.tsdb.path={work}/data",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=log)

    def query(q):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]

    up = completed = total = None
    t0 = time.time()
    try:
        while time.time() - t0 < 60:
            time.sleep(1)
            try:
                up = query('up{job="interview"}')
                completed = query('interview_turns_total{result="completed"}')
                total = query('sum(interview_turns_total)')
            except OSError:
                continue
            if up and up[0][1] == 1 and completed and total and total[0][1] == turns_total:
                break
        measure("prometheus_first_good_answer_s", round(time.time() - t0, 1))
        check("prometheus: target up", bool(up) and up[0][1] == 1, up)
        check(f"prometheus: interview_turns_total{{result=completed}} == {turns_completed}",
              bool(completed) and completed[0][1] == turns_completed, completed)
        check(f"prometheus: sum(interview_turns_total) == {turns_total} (turns run)",
              bool(total) and total[0][1] == turns_total, total)
        q = query('histogram_quantile(0.5, sum by (le) (interview_turn_first_audio_seconds_bucket))')
        check("prometheus: a median of interview_turn_first_audio_seconds", bool(q) and q[0][1] > 0, q)
        # Every query of deploy/grafana-interview.json is valid PromQL on these series.
        with open(os.path.join(HERE, "..", "..", "deploy", "grafana-interview.json")) as f:
            exprs = [t["expr"] for pn in json.load(f)["panels"] for t in pn["targets"]]
        bad = []
        for e in exprs:
            try:
                query(e.replace("$job", "interview").replace("$__rate_interval", "1m"))
            except (OSError, ValueError, KeyError) as ex:
                bad.append((e, repr(ex)))
        check(f"prometheus: the {len(exprs)} Grafana dashboard queries are valid", not bad, bad[:2])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        errs = [x for x in log.read().splitlines() if "level=error" in x]
        check("prometheus logged no error", not errs, errs[:3])
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def promtool_check(page, name):
    tool = shutil.which("promtool")
    if not check("promtool installed (Debian package prometheus)", tool is not None):
        return
    r = subprocess.run([tool, "check", "metrics"], input=page.encode(), capture_output=True, timeout=30)
    check(f"promtool check metrics: {name}", r.returncode == 0, (r.stdout + r.stderr).decode()[-800:])


def test_page_and_values():
    did = dict.fromkeys(("opening", "answer", "completed", "failed", "close_1000", "in", "in_bytes", "out",
                         "origin", "per_ip", "bad_request"), 0)
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(reply=REPLY)
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                    MAX_WEBSOCKETS_PER_IP="2", LOG_FORMAT="json") as srv:
            st, hdr, page = scrape(srv)
            check("GET /metrics -> 200, text/plain; version=0.0.4", st == 200 and
                  hdr.get("Content-Type", "").startswith("text/plain; version=0.0.4"), (st, hdr))
            promtool_check(page, "a fresh server")
            st, hdr, body = scrape(srv, method="HEAD")
            check("HEAD /metrics -> 200 without a body", st == 200 and body == "" and
                  int(hdr.get("Content-Length", 0)) > 1000, (st, hdr.get("Content-Length")))
            st, _, _ = scrape(srv, method="POST")
            check("POST /metrics -> 405", st == 405)
            did["bad_request"] += 1  # a 405 is counted as a bad request
            asyncio.run(turns_flow(srv, mock, did))
            asyncio.run(refusals_flow(srv, did))
            time.sleep(0.3)  # the refused connections' lingering closes settle
            st, _, text = scrape(srv)
            p = parse(text)
            promtool_check(text, "after turns and refusals")
            turns = did["completed"] + did["failed"]
            check(f"interview_turns_started_total opening {did['opening']}, answer {did['answer']}",
                  val(p, "interview_turns_started_total", kind="opening") == did["opening"] and
                  val(p, "interview_turns_started_total", kind="answer") == did["answer"],
                  (val(p, "interview_turns_started_total", kind="opening"),
                   val(p, "interview_turns_started_total", kind="answer")))
            check(f"interview_turns_total completed {did['completed']}, failed {did['failed']}, interrupted 0",
                  val(p, "interview_turns_total", result="completed") == did["completed"] and
                  val(p, "interview_turns_total", result="failed") == did["failed"] and
                  val(p, "interview_turns_total", result="interrupted") == 0)
            check("interview_turn_errors_total{code=transcription} == 1",
                  val(p, "interview_turn_errors_total", code="transcription") == 1)
            for h in ("first_token", "first_sentence", "first_audio", "duration"):
                check(f"interview_turn_{h}_seconds_count == completed turns ({did['completed']})",
                      val(p, f"interview_turn_{h}_seconds_count") == did["completed"],
                      val(p, f"interview_turn_{h}_seconds_count"))
            check("interview_turn_transcript_seconds_count == transcribed answers (2)",
                  val(p, "interview_turn_transcript_seconds_count") == 2)
            check("histogram +Inf bucket == count", val(p, "interview_turn_first_audio_seconds_bucket", le="+Inf")
                  == val(p, "interview_turn_first_audio_seconds_count"))
            check(f"ws messages received (client) == sent by the test ({did['in']})",
                  val(p, "interview_ws_messages_received_total", dialect="client") == did["in"],
                  val(p, "interview_ws_messages_received_total", dialect="client"))
            check(f"ws bytes received (client) == sent by the test ({did['in_bytes']})",
                  val(p, "interview_ws_received_bytes_total", dialect="client") == did["in_bytes"],
                  val(p, "interview_ws_received_bytes_total", dialect="client"))
            out = val(p, "interview_ws_messages_sent_total", dialect="client")
            # the two per-IP sockets got a greeting each
            check(f"ws messages sent (client) == received by the test ({did['out']} + 2 greetings)",
                  out == did["out"] + 2, (out, did["out"]))
            check("close code 1000 sent for each end_interview (+2 echoes of the client's close)",
                  val(p, "interview_ws_close_sent_total", code="1000") == did["close_1000"] + 2,
                  val(p, "interview_ws_close_sent_total", code="1000"))
            for reason in ("origin", "per_ip", "bad_request"):
                check(f"interview_connections_refused_total{{reason={reason}}} == {did[reason]}",
                      val(p, "interview_connections_refused_total", reason=reason) == did[reason],
                      val(p, "interview_connections_refused_total", reason=reason))
            chat, speech, stt = (mock.requests(e) for e in ("chat", "speech", "transcriptions"))
            for ep, recs in (("chat", chat), ("speech", speech)):
                check(f"upstream requests {ep} 2xx == mock's count ({len(recs)})",
                      val(p, "interview_upstream_requests_total", endpoint=ep, **{"class": "2xx"}) == len(recs))
                check(f"upstream {ep} total-phase histogram count == requests",
                      val(p, "interview_upstream_request_duration_seconds_count", endpoint=ep, phase="total")
                      == len(recs))
                check(f"upstream {ep} first_byte histogram count == requests",
                      val(p, "interview_upstream_request_duration_seconds_count", endpoint=ep, phase="first_byte")
                      == len(recs))
            check("upstream transcriptions: 2xx == 2, 4xx == 1",
                  val(p, "interview_upstream_requests_total", endpoint="transcriptions", **{"class": "2xx"}) == 2
                  and val(p, "interview_upstream_requests_total", endpoint="transcriptions",
                          **{"class": "4xx"}) == 1 and len(stt) == 3)
            requests = len(chat) + len(speech) + len(stt)
            hits, misses = val(p, "interview_upstream_pool_total", result="hit"), \
                val(p, "interview_upstream_pool_total", result="miss")
            check(f"pool hits + misses == upstream attempts ({requests})", hits + misses == requests, (hits, misses))
            check("TLS handshakes ok == mock's handshakes == pool misses",
                  val(p, "interview_tls_handshakes_total", result="ok") == mock.stats()["handshakes"] == misses,
                  (val(p, "interview_tls_handshakes_total", result="ok"), mock.stats()["handshakes"], misses))
            check("tls phase histogram count == handshakes",
                  sum(val(p, "interview_upstream_request_duration_seconds_count", endpoint=e, phase="tls")
                      for e in ("chat", "speech", "transcriptions")) == misses)
            check("DNS lookups (cache + query) == pool misses",
                  val(p, "interview_dns_lookups_total", result="cache") +
                  val(p, "interview_dns_lookups_total", result="query") == misses)
            check("upstream retries 0", sum(v for (n, _), v in p.items() if n == "interview_upstream_retries_total")
                  == 0)
            check("event loop lag observed", val(p, "interview_event_loop_lag_seconds_count") > 0)
            check("interview_build_info has version, mbedtls, cjson",
                  any(n == "interview_build_info" and {k for k, _ in lb} == {"version", "mbedtls", "cjson"}
                      for (n, lb) in p))
            fds = srv.fds()
            check("process_open_fds is the process's descriptor count (within 2)",
                  abs(val(p, "process_open_fds") - fds) <= 2, (val(p, "process_open_fds"), fds))
            check("process_resident_memory_bytes, process_max_fds, process_start_time_seconds plausible",
                  val(p, "process_resident_memory_bytes") > 100000 and val(p, "process_max_fds") > 0 and
                  abs(val(p, "process_start_time_seconds") - time.time()) < 600)
            check("coach counters present (driven in tests/coach, not here)",
                  val(p, "interview_coach_interviews_total") == 0 and
                  val(p, "interview_coach_answers_total", result="ok") == 0)
            check("labels are bounded: no client id or address on the page",
                  "metrics-a" not in text and "127.0.0.1" not in text)
            measure("metrics_page_bytes", len(text.encode()))
            prometheus_check(srv, did["completed"], turns)
            log = srv.log()
        lines = [json.loads(x) for x in log.splitlines() if x.startswith("{") and '"event":"turn"' in x]
        check(f"one JSON log line per finished turn ({turns})", len(lines) == turns, len(lines))
        keys = {"stt_ms", "first_token_ms", "first_sentence_ms", "tts_first_byte_ms", "first_audio_ms", "total_ms",
                "tokens", "audio_ms", "retries", "result", "kind"}
        check("turn log lines carry the timings as JSON fields",
              all(keys <= set(x) for x in lines), lines[:1])
        check("turn log lines: results completed x4, failed x1 (error transcription)",
              sorted(x["result"] for x in lines) == ["completed"] * did["completed"] + ["failed"] and
              [x["error"] for x in lines if x["result"] == "failed"] == ["transcription"], lines)


def test_token_and_off():
    with Server(METRICS_TOKEN=TOKEN) as srv:
        st, hdr, _ = scrape(srv)
        check("METRICS_TOKEN set, no credential -> 401 with WWW-Authenticate",
              st == 401 and "Bearer" in hdr.get("WWW-Authenticate", ""), (st, hdr))
        st, _, _ = scrape(srv, token="wrong-token-0123456789")
        check("wrong token -> 401", st == 401)
        st, _, text = scrape(srv, token=TOKEN)
        check("right token -> 200", st == 200)
        p = parse(text)
        check("refusals counted: interview_connections_refused_total{reason=auth} == 2",
              val(p, "interview_connections_refused_total", reason="auth") == 2)
        log = srv.log()
    check("the metrics token never reaches the log", TOKEN not in log and "wrong-token" not in log)
    with Server(METRICS_TOKEN=TOKEN, AUTH_FAILURES_PER_MINUTE="3") as srv:
        sts = [scrape(srv, token=f"wrong-token-{i:012d}")[0] for i in range(3)]
        st, hdr, _ = scrape(srv, token=TOKEN)
        check("wrong metrics tokens count against AUTH_FAILURES_PER_MINUTE: 3 x 401, then 429 with "
              "Retry-After even for the right one", sts == [401] * 3 and st == 429 and "Retry-After" in hdr,
              (sts, st, hdr))
    with Server(METRICS="off") as srv:
        st, _, _ = scrape(srv)
        check("METRICS=off -> /metrics is 404", st == 404)
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(TOKEN + "\n")
    try:
        with Server(METRICS_TOKEN_FILE=f.name) as srv:
            check("METRICS_TOKEN_FILE: the token from the file works",
                  scrape(srv, token=TOKEN)[0] == 200 and scrape(srv)[0] == 401)
    finally:
        os.unlink(f.name)
    r = subprocess.run([os.environ.get("INTERVIEW_BIN", "build/interview")], env={"METRICS_TOKEN": "short"},
                       capture_output=True, timeout=10)
    check("a METRICS_TOKEN that is not a valid token -> exit 2", r.returncode == 2, r.stderr[-200:])


if __name__ == "__main__":
    run_tests([test_page_and_values, test_token_and_off])
