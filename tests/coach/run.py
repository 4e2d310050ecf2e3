#!/usr/bin/env python3
"""Seed 003 (Socket.IO coach) tests against the binary in INTERVIEW_BIN:
the unchanged seed client flow in Node (socket.io-client from npm, websocket
transport; coach_client.mjs) with real webm/opus answers made by ffmpeg at
test time, plus raw-socket checks (polling refused, malformed packets,
missed pong) and the upstream requests as the mock OpenAI saw them.
Prints ok/FAIL lines and "N passed, N failed"."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
sys.path.insert(0, os.path.join(HERE, ".."))
from jobboard import JobBoard  # noqa: E402
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import RawWS, Server, check, finish, frame, measure  # noqa: E402

TRANSCRIPT = ("Um, I led the Kubernetes migration with the team, you know, and like basically "
              "we cut latency by 40 percent.")


def npm_ready():
    if all(os.path.isdir(os.path.join(HERE, "node_modules", p)) for p in ("socket.io-client", "playwright-core")):
        return True
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
    return r.returncode == 0


def make_webm(tmp):
    """A real webm/opus recording, as MediaRecorder would send (ffmpeg, libopus)."""
    path = os.path.join(tmp, "answer.webm")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:duration=3",
                    "-c:a", "libopus", "-b:a", "32k", path], check=True)
    return path


def node(srv, webm, mode, extra_env=None, script="coach_client.mjs"):
    env = dict(os.environ, COACH_URL=f"http://127.0.0.1:{srv.port}", COACH_WEBM=webm, **(extra_env or {}))
    r = subprocess.run(["node", os.path.join(HERE, script), mode], env=env, capture_output=True,
                       text=True, timeout=300)
    for line in r.stdout.splitlines():
        if line.startswith("ok ") or line.startswith("ok   "):
            check(line[5:].strip() if line.startswith("ok   ") else line[3:].strip(), True)
        elif line.startswith("FAIL"):
            check(line[5:].strip(), False)
        elif line.startswith("measure "):
            print(line, flush=True)
        elif line.startswith("#"):
            print(line, flush=True)
    if r.returncode != 0 and "FAIL" not in r.stdout:
        check(f"node {mode} exited cleanly", False, r.stderr[-3000:])


def http_get(port, target):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


class Sio:
    """Engine.IO over a raw WebSocket (wsutil.RawWS): what real clients never send."""

    def __init__(self, port):
        self.ws = RawWS(port, "/socket.io/?EIO=4&transport=websocket", timeout=20)
        self.first = self.ws.hello[1].decode() if self.ws.status == 101 else None

    def send(self, m):
        self.ws.send(frame(1, m.encode()) if isinstance(m, str) else frame(2, m))

    def recv(self, timeout=None):
        if self.first is not None:
            first, self.first = self.first, None
            return first
        while True:
            op, p = self.ws.recv_frame()
            if op == 1:
                return p.decode()
            if op == 2:
                return p
            if op == 8:
                raise ConnectionError("closed %d" % (int.from_bytes(p[:2], "big") if len(p) >= 2 else 1005))

    def expect_close(self):
        return self.ws.expect_close()

    def close(self):
        self.ws.close()


def raw_sio(srv):
    return Sio(srv.port)


def closed_with(ws, code, sends, binary=None):
    for m in sends:
        ws.send(m)
    if binary is not None:
        ws.send(binary)
    return ws.expect_close() == code


def raw_checks(srv):
    st, body = http_get(srv.port, "/socket.io/?EIO=4&transport=polling")
    check("transport=polling -> 400 {\"code\":0,\"message\":\"Transport unknown\"}",
          st == 400 and json.loads(body) == {"code": 0, "message": "Transport unknown"}, f"{st} {body}")
    st, body = http_get(srv.port, "/socket.io/?EIO=3&transport=websocket")
    check("EIO=3 -> 400 Unsupported protocol version", st == 400 and json.loads(body)["code"] == 5, f"{st} {body}")
    ws = raw_sio(srv)
    op = ws.recv(timeout=5)
    o = json.loads(op[1:]) if op.startswith("0") else {}
    check("open packet 0{sid, upgrades:[], pingInterval, pingTimeout, maxPayload}",
          set(o) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"} and o["upgrades"] == []
          and len(o["sid"]) == 20, op)
    ws.send("40")
    ca = ws.recv(timeout=5)
    c = json.loads(ca[2:]) if ca.startswith("40") else {}
    check("CONNECT 40 -> 40{sid, pid}", set(c) == {"sid", "pid"} and c["sid"] != o.get("sid"), ca)
    ws.send("40/admin,")
    check("CONNECT to /admin -> 44/admin,{\"message\":\"Invalid namespace\"}",
          ws.recv(timeout=5) == '44/admin,{"message":"Invalid namespace"}')
    ws.send('42["start_interview",{"resume":"x"}]')
    ev = ws.recv(timeout=5)
    check("event answers carry the offset as last argument", ev.startswith('42["error",{') and ev.endswith(',"1"]'), ev)
    cases = [
        ("JSON that does not parse", ["42[\"a\","], None),
        ("event before CONNECT is refused", None, None),
        ("placeholder count mismatch", ['451-["submit_answer",{"audioBlob":{"_placeholder":true,"num":1}}]'], None),
        ("binary message with no attachment due", [], b"\x1a\x45\xdf\xa3"),
        ("text while an attachment is due", ['451-["submit_answer",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0}}]', "3"], None),
        ("unknown Engine.IO type", ["9"], None),
        ("Socket.IO type 7", ["47[]"], None),
        ("too many attachments (5)", ['455-["submit_answer",{}]'], None),
        ("ACK from the client that nobody asked for", ["431[]"], None),
    ]
    for name, sends, binary in cases:
        w = raw_sio(srv)
        w.recv(timeout=5)
        if sends is None:  # no CONNECT first
            ok = closed_with(w, 1008, ['42["start_interview",{}]'])
        else:
            w.send("40")
            w.recv(timeout=5)
            ok = closed_with(w, 1008, sends, binary)
        check(f"malformed: {name} -> close 1008", ok)
        w.close()
    ws.close()
    st, body = http_get(srv.port, "/health")
    check("server still healthy after the malformed input", st == 200, body)


def heartbeat_checks(mock):
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                SIO_PING_INTERVAL="300ms", SIO_PING_TIMEOUT="400ms") as srv:
        ws = raw_sio(srv)
        ws.recv(timeout=5)
        ws.send("40")
        ws.recv(timeout=5)
        got = ws.recv(timeout=5)
        check("server heartbeat: ping 2 after pingInterval", got == "2", got)
        ws.send("3")
        got = ws.recv(timeout=5)
        check("a pong 3 keeps the connection, next ping follows", got == "2", got)
        check("missed pong -> connection closed", closed_with(ws, 1011, []))


def upstream_checks(mock):
    stt = mock.requests("transcriptions")
    check("transcriptions: verbose_json with word timestamps, webm named answer.webm",
          stt and all(r.get("fields", {}).get("response_format") == "verbose_json"
                      and r.get("fields", {}).get("timestamp_granularities[]") == ["word"]
                      and r.get("filename") == "answer.webm" and r.get("content_type") == "audio/webm"
                      for r in stt), json.dumps([r.get("fields") for r in stt][:2]))
    chat = mock.requests("chat")
    check("chat completions in JSON mode (response_format json_object), not streamed",
          chat and all(r.get("response_format") == {"type": "json_object"} and not r.get("stream") for r in chat))
    kinds = [r.get("json_kind") for r in chat]
    check("one questions call, analyses and one report", kinds.count("questions") >= 1 and "analysis" in kinds
          and "report" in kinds, json.dumps(kinds))


def retry_checks(mock, webm):
    mock.reset()
    mock.configure(transcript=TRANSCRIPT, json_faults={"questions": ["malformed"], "analysis": ["not_json"]})
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
        ws = raw_sio(srv)
        ws.recv(timeout=5)
        ws.send("40")
        ws.recv(timeout=5)
        ws.send('42["start_interview",{"jobDescription":"Kubernetes engineer wanted","resume":"r"}]')
        got = []
        deadline = time.time() + 20
        while time.time() < deadline and not any(isinstance(m, str) and "question_audio" in m for m in got):
            got.append(ws.recv(timeout=20))
        got.append(ws.recv(timeout=20))  # the attachment follows its packet
        qs = [m for m in got if isinstance(m, str) and m.startswith('42["questions_generated"')]
        check("7 questions from the model -> asked again once -> 8 questions", len(qs) == 1 and
              len(json.loads(qs[0][2:])[1]) == 8, str(got)[:300])
        check("questions call retried once", [r.get("json_fault") for r in mock.requests("chat")] == ["malformed", None])
        check("question_audio is a binary event 451-[...] then the mp3 bytes as the next message",
              got[-2].startswith('451-["question_audio",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0}},"')
              and isinstance(got[-1], bytes) and (got[-1][:3] == b"ID3" or got[-1][0] == 0xFF), str(got[-2:])[:300])
        with open(webm, "rb") as f:
            audio = f.read()
        ws.send('451-["submit_answer",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0}}]')
        ws.send(audio)
        a = None
        deadline = time.time() + 20
        while time.time() < deadline and a is None:
            m = ws.recv(timeout=20)
            if isinstance(m, str) and m.startswith('42["answer_analyzed"'):
                a = json.loads(m[2:])[1]
        check("analysis that was not JSON -> asked again once -> answer_analyzed", a is not None and a["fillerWords"] == 4,
              json.dumps(a))
        ws.close()


def connect(srv, auth=None):
    ws = raw_sio(srv)
    ws.recv()
    ws.send("40" + (json.dumps(auth) if auth else ""))
    return ws, json.loads(ws.recv()[2:])


def recovery_checks(mock):
    """Recovery limits: expired window, unknown pid, offset older than the replay buffer, session cap."""
    mock.reset()
    mock.configure(transcript=TRANSCRIPT)
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                SIO_RECOVERY_WINDOW="700ms", SIO_REPLAY_EVENTS="2", COACH_MAX_SESSIONS="3") as srv:
        ws, c = connect(srv)
        for _ in range(3):  # three error events: offsets 1..3, only 2..3 kept
            ws.send('42["resume_interview",{"currentQuestion":1}]')
            ws.recv()
        ws.close()
        time.sleep(0.3)
        ws2, c2 = connect(srv, {"pid": c["pid"], "offset": "2"})
        m = ws2.recv()
        check("recovery within the window: same sid, the missed event replayed", c2["sid"] == c["sid"]
              and m.endswith(',"3"]'), f"{c} {c2} {m}")
        ws2.close()
        time.sleep(0.3)
        ws3, c3 = connect(srv, {"pid": c["pid"], "offset": "0"})
        check("offset older than the replay buffer -> a new session", c3["sid"] != c["sid"], f"{c} {c3}")
        ws4, c4 = connect(srv, {"pid": "nonexistent-pid-000", "offset": "1"})
        check("unknown pid -> a new session", c4["sid"] not in (c["sid"], c3["sid"]))
        # 3 sessions now: c's (dropped, awaiting recovery), c3's and c4's (connected)
        w5, c5 = connect(srv)
        ws7, c7 = connect(srv, {"pid": c["pid"], "offset": "3"})
        check("COACH_MAX_SESSIONS reached: the session awaiting recovery longest makes room for a new client",
              "sid" in c5 and c7.get("sid") != c["sid"], f"{c5} {c7}")
        check("... and when every session is connected, CONNECT_ERROR 44{\"message\":\"server full: too many sessions\"}",
              c7 == {"message": "server full: too many sessions"}, str(c7))
        w5.close()
        ws7.close()
        time.sleep(0.2)
        ws3.send("41")  # DISCONNECT: dropped at once, nothing to recover
        time.sleep(0.2)
        ws3b, c3b = connect(srv, {"pid": c3["pid"], "offset": "0"})
        check("after DISCONNECT 41 the session is gone (no recovery)", c3b["sid"] != c3["sid"])
        ws4.close()
        time.sleep(1.2)
        ws6, c6 = connect(srv, {"pid": c4["pid"]})
        ws6.send('42["resume_interview",{"currentQuestion":3}]')
        m = ws6.recv()
        check("after SIO_RECOVERY_WINDOW: a new session, resume_interview -> SESSION_NOT_FOUND",
              c6["sid"] != c4["sid"] and '"code":"SESSION_NOT_FOUND"' in m, m)
        ws6.close()
        ws3.close()
        ws3b.close()


def failure_checks(mock, webm):
    """Upstream failures become error events; the question stays open."""
    mock.reset()
    mock.configure(transcript=TRANSCRIPT, faults={"transcriptions": ["400"], "speech": ["ok", "400"]})
    with open(webm, "rb") as f:
        audio = f.read()
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
        ws, _ = connect(srv)
        ws.send('42["start_interview",{"jobDescription":"Kubernetes engineer wanted","resume":"r"}]')

        def until(pred):
            while True:
                m = ws.recv()
                if isinstance(m, str) and pred(m):
                    return m

        until(lambda m: m.startswith('451-["question_audio"'))
        ws.recv()
        ans = '451-["submit_answer",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0}}]'
        ws.send(ans)
        ws.send(audio)
        m = until(lambda m: m.startswith('42["error"') or m.startswith('42["answer_analyzed"'))
        check("transcription refused (400) -> error TRANSCRIPTION_ERROR with questionId",
              '"code":"TRANSCRIPTION_ERROR"' in m and '"questionId":"q1"' in m, m)
        ws.send(ans)
        ws.send(audio)
        m = until(lambda m: m.startswith('42["error"') or m.startswith('42["answer_analyzed"'))
        check("the same answer sent again is analysed", m.startswith('42["answer_analyzed"'), m)
        m = until(lambda m: m.startswith('42["error"') or m.startswith('451-["question_audio"'))
        check("speech refused (400) -> error TTS_ERROR for q2", '"code":"TTS_ERROR"' in m and '"q2"' in m, m)
        ws.send('42["resume_interview",{"currentQuestion":"q2"}]')
        until(lambda m: m.startswith('42["interview_resumed"'))
        m = until(lambda m: m.startswith('451-["question_audio"'))
        check("resume_interview asks for the missing audio again", '"questionId":"q2"' in m, m)
        ws.close()


def jobfetch_checks(mock, board, webm):
    """start_interview {jobDescriptionUrl}: the test job board (allowlisted, on 127.0.0.2, treated as public
    only through the documented test escape JOB_URL_TEST_ALLOW_ADDRESSES), and every SSRF attempt refused."""
    mock.reset()
    mock.configure(transcript=TRANSCRIPT)
    b = f"https://{board.host}:{board.port}"
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                JOB_URL_ALLOWED_HOSTS=f"{board.host}:{board.port},127.0.0.1:{board.port},localhost:{board.port},"
                                      "10.0.0.1,192.168.1.10,169.254.169.254",  # a port only where named
                JOB_URL_TEST_ALLOW_ADDRESSES=board.host, JOB_URL_TIMEOUT="5s") as srv:
        node(srv, webm, "url", {"COACH_POSTING_URL": b + "/posting"})
        q = [r for r in mock.requests("chat") if r.get("json_kind") == "questions"]
        user = q[0]["messages"][-1]["content"] if q and q[0].get("messages") else ""
        check("the questions were asked from the fetched posting's text (HTML reduced, no script)",
              "Senior Backend Engineer" in user and "Kubernetes" in user and "do-not-include" not in user, user[:300])
        cases = [
            ("loopback literal (allowlisted, but 127.0.0.1)", f"https://127.0.0.1:{board.port}/posting", "JOB_URL_BLOCKED_ADDRESS"),
            ("localhost (resolves to loopback)", f"https://localhost:{board.port}/posting", "JOB_URL_BLOCKED_ADDRESS"),
            ("private 10.0.0.0/8", "https://10.0.0.1/posting", "JOB_URL_BLOCKED_ADDRESS"),
            ("private 192.168.0.0/16", "https://192.168.1.10/posting", "JOB_URL_BLOCKED_ADDRESS"),
            ("cloud metadata 169.254.169.254", "https://169.254.169.254/latest/meta-data/", "JOB_URL_BLOCKED_ADDRESS"),
            ("redirect to loopback", f"{b}/redirect?to=https://127.0.0.1:{board.port}/posting", "JOB_URL_BLOCKED_ADDRESS"),
            ("redirect to metadata", f"{b}/redirect?to=https://169.254.169.254/latest/meta-data/", "JOB_URL_BLOCKED_ADDRESS"),
            ("redirect to http", f"{b}/redirect?to=http://{board.host}:{board.port}/posting", "JOB_URL_NOT_HTTPS"),
            ("redirect to a host off the list", f"{b}/redirect?to=https://evil.example/", "JOB_URL_NOT_ALLOWED"),
            ("http URL", f"http://{board.host}:{board.port}/posting", "JOB_URL_NOT_HTTPS"),
            ("host off the list", "https://evil.example/posting", "JOB_URL_NOT_ALLOWED"),
            ("javascript: scheme", "javascript:alert(1)", "JOB_URL_NOT_HTTPS"),
            ("not a URL", "https://", "JOB_URL_INVALID"),
        ]
        fetched_before = len(board.paths)
        node(srv, webm, "ssrf", {"COACH_SSRF": json.dumps(cases)})
        check("no refused URL reached the job board beyond its redirecting page",
              all(p.startswith("/redirect") for p in board.paths[fetched_before:]), str(board.paths[fetched_before:]))
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
        node(srv, webm, "ssrf", {"COACH_SSRF": json.dumps([
            ("any URL with JOB_URL_ALLOWED_HOSTS empty (the default)", b + "/posting", "JOB_URL_DISABLED")])})


def limits_checks(mock, webm):
    """Answer caps: size (attachment dropped, error event, connection kept), duration, silence; connect timeout."""
    mock.reset()
    mock.configure(transcript=TRANSCRIPT)  # 20 words: about 8 s by the mock's word timings
    with open(webm, "rb") as f:
        audio = f.read()
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                COACH_MAX_AUDIO_BYTES=str(len(audio) + 100), COACH_MAX_ANSWER_SECONDS="5",
                SIO_CONNECT_TIMEOUT="500ms") as srv:
        ws, _ = connect(srv)
        ws.send('42["start_interview",{"jobDescription":"Kubernetes engineer wanted","resume":"r"}]')

        def until(pred):
            while True:
                m = ws.recv()
                if isinstance(m, str) and pred(m):
                    return m

        until(lambda m: m.startswith('451-["question_audio"'))
        ws.recv()
        ws.send('452-["submit_answer",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0},'
                '"x":{"_placeholder":true,"num":1}}]')
        ws.send(audio)
        ws.send(b"\0" * 200)
        m = until(lambda m: m.startswith('42["error"'))
        check("attachments over COACH_MAX_AUDIO_BYTES -> error ANSWER_TOO_LARGE, connection kept",
              '"code":"ANSWER_TOO_LARGE"' in m, m)
        ans = '451-["submit_answer",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0}}]'
        ws.send(ans)
        ws.send(audio)
        m = until(lambda m: m.startswith('42["error"') or m.startswith('42["answer_analyzed"'))
        check("an answer longer than COACH_MAX_ANSWER_SECONDS -> error ANSWER_TOO_LONG", '"code":"ANSWER_TOO_LONG"' in m, m)
        mock.configure(transcript="")
        ws.send(ans)
        ws.send(audio)
        m = until(lambda m: m.startswith('42["error"') or m.startswith('42["answer_analyzed"'))
        check("silence (no words) -> error EMPTY_TRANSCRIPT", '"code":"EMPTY_TRANSCRIPT"' in m, m)
        ws.close()
        w = raw_sio(srv)
        w.recv()
        check("no CONNECT within SIO_CONNECT_TIMEOUT -> close 1008", w.expect_close() == 1008)
        w.close()


def browser_checks(mock, tmp):
    """The seed client in headless Chromium: MediaRecorder webm/opus from a fake microphone."""
    if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")) or not shutil.which("espeak-ng"):
        check("chromium and espeak-ng present for the browser run", False)
        return
    wav = os.path.join(tmp, "mic.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", wav, TRANSCRIPT], check=True)
    mock.reset()
    mock.configure(transcript=TRANSCRIPT)
    # The page is served from http://localhost (a separate front-end, like the
    # seed's), so its origin must be listed for the upgrade's Origin rule.
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                ALLOWED_ORIGINS="http://localhost") as srv:
        node(srv, "", "browser", {"COACH_WAV": wav}, script="browser.mjs")
        stt = mock.requests("transcriptions")
        check("browser answers reached transcription as answer.webm (audio/webm) from MediaRecorder",
              len(stt) == 8 and all(r.get("filename") == "answer.webm" and r.get("content_type") == "audio/webm"
                                    and r.get("file_bytes", 0) > 1000 for r in stt),
              json.dumps([(r.get("filename"), r.get("file_bytes")) for r in stt]))


def rate_limit_checks(mock):
    """Rate limits on a Socket.IO connection: answered as Socket.IO error events,
    a refused binary packet's attachment dropped in step, then close 1008."""
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                WS_MESSAGES_PER_SEC="1", WS_MESSAGES_BURST="3", RATE_LIMIT_STRIKES="3") as srv:
        w = raw_sio(srv)
        w.recv(timeout=5)
        w.send("40")
        w.recv(timeout=5)
        w.send('42["resume_interview",{"currentQuestion":0}]')  # takes the last message token
        w.recv(timeout=5)
        w.send('451-["submit_answer",{"questionId":"q1","audioBlob":{"_placeholder":true,"num":0}}]')
        w.send(b"\x1a\x45\xdf\xa3 not processed")
        ev = w.recv(timeout=5)
        check("Socket.IO: a binary packet over WS_MESSAGES_PER_SEC -> one error event RATE_LIMITED "
              "(its attachment dropped in step, the stream stays in sync)",
              ev.startswith('42["error",{"code":"RATE_LIMITED"'), ev)
        codes = []
        try:
            for _ in range(10):
                w.send('42["resume_interview",{"currentQuestion":0}]')
                codes.append(w.recv(timeout=5)[:40])
        except ConnectionError as e:
            codes.append(str(e))
        check("Socket.IO: a client that keeps going past the limit -> more RATE_LIMITED, then close 1008",
              codes[-1] == "closed 1008" and all("RATE_LIMITED" in c for c in codes[:-1]), codes)
    with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                AI_TURNS_PER_MINUTE="1") as srv:
        w = raw_sio(srv)
        w.recv(timeout=5)
        w.send("40")
        w.recv(timeout=5)
        w.send('42["complete_interview",{}]')
        first = w.recv(timeout=10)
        w.send('42["complete_interview",{}]')
        second = w.recv(timeout=10)
        check("Socket.IO: start/submit/complete count against AI_TURNS_PER_MINUTE -> RATE_LIMITED error event",
              "RATE_LIMITED" not in first and second.startswith('42["error",{"code":"RATE_LIMITED"'),
              (first, second))
        w.close()


def metrics_checks(srv, interviews, answers):
    """/metrics after coach interviews: the coach counters exactly, and promtool on the page."""
    st, page = http_get(srv.port, "/metrics")
    vals = dict(line.rsplit(" ", 1) for line in page.splitlines() if line and not line.startswith("#"))
    check(f"/metrics: interview_coach_interviews_total == {interviews}, answers ok == {answers}, failed 0",
          st == 200 and vals.get("interview_coach_interviews_total") == str(interviews) and
          vals.get('interview_coach_answers_total{result="ok"}') == str(answers) and
          vals.get('interview_coach_answers_total{result="failed"}') == "0",
          {k: v for k, v in vals.items() if "coach" in k})
    check("/metrics: Socket.IO messages counted under dialect socket_io",
          int(vals.get('interview_ws_messages_received_total{dialect="socket_io"}', "0")) > 0)
    tool = shutil.which("promtool")
    if tool:
        r = subprocess.run([tool, "check", "metrics"], input=page.encode(), capture_output=True, timeout=30)
        check("promtool check metrics: the page after coach answers", r.returncode == 0,
              (r.stdout + r.stderr).decode()[-500:])


def main():
    if not npm_ready():
        check("npm ci in tests/coach", False)
        finish()
    with tempfile.TemporaryDirectory() as tmp:
        webm = make_webm(tmp)
        with open(webm, "rb") as f:
            head = f.read(4)
        check("ffmpeg made a webm/opus answer", head == b"\x1a\x45\xdf\xa3")
        with MockOpenAI(cert_dir=tmp) as mock:
            mock.configure(transcript=TRANSCRIPT)
            with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
                t0 = time.time()
                node(srv, webm, "text")
                check("the reconnect recovered the session and replayed events missed while it was down",
                      "recovered=1 replay=yes" in srv.log(), srv.log()[-2000:])
                upstream_checks(mock)
                node(srv, webm, "errors")
                raw_checks(srv)
                measure("coach_text_and_errors_s", round(time.time() - t0, 1))
            board = JobBoard(tmp).start()
            try:
                jobfetch_checks(mock, board, webm)
            finally:
                board.stop()
            # four at once through a 4 KiB send ring: question audio (larger) streams through the queue
            with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                        TX_BUFFER_SIZE="4k") as srv:
                node(srv, webm, "parallel", {"COACH_PARALLEL": "4"})
                metrics_checks(srv, interviews=4, answers=4 * 8)
            heartbeat_checks(mock)
            browser_checks(mock, tmp)
            limits_checks(mock, webm)
            rate_limit_checks(mock)
            recovery_checks(mock)
            failure_checks(mock, webm)
            retry_checks(mock, webm)
    finish()


if __name__ == "__main__":
    main()
