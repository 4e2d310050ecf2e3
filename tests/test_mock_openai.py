#!/usr/bin/env python3
"""Self-test of tests/mock_openai.py: every endpoint over HTTPS with the
throwaway CA, a few faults, keep-alive, certificate variants, plain HTTP and
script mode. Prints `ok`/`FAIL` lines and `N passed, N failed`; exit 1 on failure."""
import hashlib
import http.client
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mock_openai as mo  # noqa: E402

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name} {detail}", flush=True)
    return cond


def wav16k(seconds=0.5, rate=16000, channels=1):
    n = int(rate * seconds)
    pcm = struct.pack(f"<{n * channels}h", *((i * 37) % 2000 - 1000 for i in range(n * channels)))
    hdr = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16) + b"data" + struct.pack("<I", len(pcm))
    return hdr + pcm, pcm


def multipart(fields, file_bytes, filename="answer.wav", ctype="audio/wav", boundary="----mockB0undary7x"):
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f'Content-Type: {ctype}\r\n\r\n').encode() + file_bytes + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, mock, ctx):
        self.mock, self.ctx = mock, ctx

    def call(self, path, body=None, ctype="application/json", key="default", timeout=10, method=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        req = urllib.request.Request(self.mock.base_url.rsplit("/v1", 1)[0] + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", ctype)
        if key:
            req.add_header("Authorization", "Bearer " + (self.mock.api_key if key == "default" else key))
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()


def sse_events(raw):
    return [blk[len("data: "):] for blk in raw.decode().split("\n\n") if blk.startswith("data: ")]


def test_endpoints(m, c):
    # transcriptions
    wav, pcm = wav16k()
    body, ct = multipart({"model": "whisper-1", "language": "en"}, wav)
    st, hd, out = c.call("/v1/audio/transcriptions", body, ct)
    check("transcription 200 with the default transcript",
          st == 200 and json.loads(out)["text"] == mo.DEFAULT_TRANSCRIPT, f"{st} {out[:200]!r}")
    r = m.requests("transcriptions")[-1]
    check("transcription recorded: model, filename, type, samples, sha256, fields",
          r["model"] == "whisper-1" and r["filename"] == "answer.wav" and r["content_type"] == "audio/wav"
          and r["samples"] == len(pcm) // 2 and r["pcm_sha256"] == hashlib.sha256(pcm).hexdigest()
          and r["fields"] == {"language": "en"}, str(r)[:300])
    bad, _ = wav16k(0.1, rate=8000)
    body, ct = multipart({"model": "whisper-1"}, bad)
    st, _, out = c.call("/v1/audio/transcriptions", body, ct)
    check("8 kHz WAV refused with 400 + error JSON", st == 400 and "16000" in json.loads(out)["error"]["message"])
    body, ct = multipart({}, wav)
    check("missing model -> 400", c.call("/v1/audio/transcriptions", body, ct)[0] == 400)
    st, _, out = c.call("/v1/audio/transcriptions", body, ct, key="sk-wrong")
    err = json.loads(out).get("error", {})
    check("wrong key -> 401 with the 4-key OpenAI error object",
          st == 401 and set(err) == {"message", "type", "param", "code"}, f"{st} {out!r}")
    st, _, _ = c.call("/v1/audio/transcriptions", body, ct, key=None)
    check("missing key -> 401", st == 401 and m.requests()[-1]["auth"] == "missing")
    check("no record holds the API key", m.api_key not in json.dumps(m.requests()))

    # chat, streamed
    m.configure(delays={"first_token_ms": 50, "token_ms": 10})
    t0 = time.time()
    st, hd, out = c.call("/v1/chat/completions", {"model": "gpt-4o-mini", "stream": True, "temperature": 0.7,
                                                   "max_completion_tokens": 150,
                                                   "messages": [{"role": "user", "content": "hi"}]})
    ev = sse_events(out)
    chunks = [json.loads(e) for e in ev[:-1]]
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
    check("chat stream: event-stream, chunked, role first, text, stop, [DONE]",
          st == 200 and hd.get("Content-Type", "").startswith("text/event-stream")
          and hd.get("Transfer-Encoding") == "chunked" and ev[-1] == "[DONE]"
          and chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
          and chunks[-1]["choices"][0]["finish_reason"] == "stop" and text == mo.DEFAULT_REPLY
          and all(ch["object"] == "chat.completion.chunk" for ch in chunks), f"{hd} {out[:300]!r}")
    r = m.requests("chat")[-1]
    tt = r["token_times"]
    check("chat recorded fields and one send time per token, paced by the delays",
          r["model"] == "gpt-4o-mini" and r["temperature"] == 0.7 and r["max_completion_tokens"] == 150
          and r["stream"] is True and len(tt) == len(r["tokens"]) == len(mo.DEFAULT_REPLY.split())
          and tt[0] - t0 >= 0.045 and all(b - a >= 0.009 for a, b in zip(tt, tt[1:])), str(tt[:3]))
    m.configure(delays={"first_token_ms": 0, "token_ms": 0}, reply="Short one.")
    st, _, out = c.call("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    j = json.loads(out)
    check("chat non-stream JSON", st == 200 and j["object"] == "chat.completion"
          and j["choices"][0]["message"]["content"] == "Short one.", str(j)[:200])
    st, _, out = c.call("/v1/chat/completions", {"model": "m", "stream": True,
                                                  "stream_options": {"include_usage": True},
                                                  "messages": [{"role": "user", "content": "x"}]})
    ev = sse_events(out)
    check("include_usage adds a final choices:[] usage chunk",
          json.loads(ev[-2])["choices"] == [] and json.loads(ev[-2])["usage"]["completion_tokens"] == 2)

    # speech
    txt = "Tell me about a hard bug you fixed"
    st, hd, out = c.call("/v1/audio/speech", {"model": "tts-1", "input": txt, "voice": "alloy"})
    nfr = max(3, 2 * len(txt.split()))
    frames = [out[i:i + 192] for i in range(0, len(out), 192)]
    gains = [((int.from_bytes(f[4:13], "big") >> 34) & 0xFF) for f in frames]
    check("speech mp3: audio/mpeg chunked, N valid 192-byte MPEG-2 L3 frames",
          st == 200 and hd.get("Content-Type") == "audio/mpeg" and hd.get("Transfer-Encoding") == "chunked"
          and len(out) == 192 * nfr and all(f[:4] == b"\xff\xf3\x84\xc0" for f in frames), f"{len(out)} {hd}")
    r = m.requests("speech")[-1]
    check("speech gains vary in 100..200 and are recorded",
          gains == r["gains"] and all(100 <= g <= 200 for g in gains) and len(set(gains)) > 3
          and r["input"] == txt and r["voice"] == "alloy" and r["first_byte_t"] <= r["last_byte_t"], str(gains))
    st, hd, out = c.call("/v1/audio/speech", {"model": "tts-1", "input": "Hi there", "voice": "alloy",
                                               "response_format": "wav"})
    ch, rate, bits = struct.unpack_from("<HIxxxxxxH", out, 22)
    check("speech wav: RIFF 24 kHz mono s16", st == 200 and out[:4] == b"RIFF" and (ch, rate, bits) == (1, 24000, 16)
          and len(out) == 44 + 4 * 576 * 2, f"{(ch, rate, bits)} {len(out)}")
    st, hd, out = c.call("/v1/audio/speech", {"model": "tts-1", "input": "Hi", "voice": "alloy",
                                               "response_format": "pcm"})
    check("speech pcm: raw s16le", st == 200 and len(out) == 3 * 576 * 2)


def test_coach_modes(m, c):
    """Seed 003: verbose_json with word timestamps; JSON-mode answers chosen by the system prompt."""
    m.reset()
    m.configure(transcript="Um, I led the team.")
    body, ct = multipart({"model": "whisper-1", "response_format": "verbose_json",
                          "timestamp_granularities[]": "word"}, b"\x1a\x45\xdf\xa3webm", "a.webm", "audio/webm")
    st, _, out = c.call("/v1/audio/transcriptions", body, ct)
    j = json.loads(out)
    check("verbose_json: text, duration, language and words [{word,start,end}] without punctuation, no segments",
          st == 200 and j["text"] == "Um, I led the team." and [w["word"] for w in j["words"]] == ["Um", "I", "led", "the", "team"]
          and all(w["end"] > w["start"] for w in j["words"]) and j["duration"] > j["words"][-1]["end"]
          and "segments" not in j, out[:300])
    body, ct = multipart({"model": "whisper-1", "response_format": "verbose_json"}, b"OggS", "a.ogg", "audio/ogg")
    j = json.loads(c.call("/v1/audio/transcriptions", body, ct)[2])
    check("verbose_json without granularities: segments, no words", "segments" in j and "words" not in j)

    def ask(system, fault=None):
        if fault:
            m.configure(json_faults={fault[0]: [fault[1]]})
        st, _, out = c.call("/v1/chat/completions", {"model": "gpt-4o-mini", "response_format": {"type": "json_object"},
                                                     "messages": [{"role": "system", "content": system},
                                                                  {"role": "user", "content": "Job posting:\nKubernetes"}]})
        return st, json.loads(json.loads(out)["choices"][0]["message"]["content"]) if st == 200 else out

    st, q = ask("Write exactly 8 interview questions. Answer in JSON.")
    check("JSON mode: questions object with 8 {id,text,type}", st == 200 and len(q["questions"]) == 8)
    st, a = ask("Score with the STAR method. JSON only.")
    check("JSON mode: analysis {score, star, feedback}", st == 200 and set(a) == {"score", "star", "feedback"})
    st, r = ask("Write the final report as JSON.")
    check("JSON mode: report lists and follow-up", st == 200 and r["strengths"] and r["followUpQuestion"])
    st, q = ask("Write exactly 8 interview questions. Answer in JSON.", ("questions", "malformed"))
    check("json_faults malformed: 7 questions, once", st == 200 and len(q["questions"]) == 7
          and len(ask("Write exactly 8 interview questions. Answer in JSON.")[1]["questions"]) == 8)
    st, _, out = c.call("/v1/chat/completions", {"model": "x", "response_format": {"type": "json_object"},
                                               "messages": [{"role": "user", "content": "hello"}]})
    check("JSON mode without the word json in the messages -> 400 like the API", st == 400 and b"json" in out)


def test_faults(m, c):
    msg = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    m.configure(faults={"chat": ["429", "ok", "500"]})
    st, hd, out = c.call("/v1/chat/completions", msg)
    check("fault 429 with Retry-After and retry-after-ms",
          st == 429 and hd.get("Retry-After") == "1" and hd.get("retry-after-ms") == "200"
          and json.loads(out)["error"]["code"] == "rate_limit_exceeded", str(hd))
    check("'ok' consumes one request normally", c.call("/v1/chat/completions", msg)[0] == 200)
    check("fault 500", c.call("/v1/chat/completions", msg)[0] == 500)
    check("faults consumed: next request is fine", c.call("/v1/chat/completions", msg)[0] == 200)

    m.configure(faults={"speech": ["hang"]})
    res = {}
    th = threading.Thread(target=lambda: res.update(r=_catch(lambda: c.call(
        "/v1/audio/speech", {"model": "tts-1", "input": "x", "voice": "alloy"}, timeout=1.5))))
    th.start()
    time.sleep(0.2)
    t = time.time()
    st = c.call("/v1/chat/completions", msg)[0]
    check("hang does not block other requests", st == 200 and time.time() - t < 1.0)
    th.join()
    check("hang: client times out", isinstance(res.get("r"), (TimeoutError, socket.timeout, urllib.error.URLError)),
          repr(res.get("r")))

    for fault in ("reset_mid_body", "garbage", "close_before_response"):
        m.configure(faults={"transcriptions": [fault]})
        wav, _ = wav16k(0.1)
        body, ct = multipart({"model": "whisper-1"}, wav)
        r = _catch(lambda: c.call("/v1/audio/transcriptions", body, ct))
        check(f"fault {fault}: client sees a transport/protocol error", isinstance(r, Exception), repr(r)[:200])
    m.configure(faults={"speech": ["reset_mid_body"]})
    r = _catch(lambda: c.call("/v1/audio/speech", {"model": "tts-1", "input": "a b c d e f g h", "voice": "x"}))
    check("fault reset_mid_body on a chunked stream", isinstance(r, Exception), repr(r)[:200])

    m.configure(faults={"chat": ["bad_json"]})
    ev = sse_events(c.call("/v1/chat/completions", msg)[2])
    bad = [e for e in ev if e != "[DONE]" and not _is_json(e)]
    check("fault bad_json: 200 with an invalid SSE JSON event", len(bad) == 1, str(ev[:3]))
    m.configure(faults={"transcriptions": ["slow_body"]}, delays={"slow_body_ms": 5})
    wav, _ = wav16k(0.1)
    body, ct = multipart({"model": "whisper-1"}, wav)
    t = time.time()
    st, _, out = c.call("/v1/audio/transcriptions", body, ct)
    check("fault slow_body trickles the body", st == 200 and json.loads(out)["text"] and
          time.time() - t >= len(out) * 0.004, f"{time.time() - t:.2f}s for {len(out)} bytes")


def _catch(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        return e


def _is_json(s):
    try:
        json.loads(s)
        return True
    except ValueError:
        return False


def test_keepalive_and_control(m, ctx):
    m.reset()
    conn = http.client.HTTPSConnection("localhost", m.port, context=ctx, timeout=5)
    hdr = {"Authorization": "Bearer " + m.api_key, "Content-Type": "application/json"}
    statuses = []
    for body in ({"model": "m", "messages": [{"role": "user", "content": "a"}], "stream": True},
                 {"model": "tts-1", "input": "two words", "voice": "alloy"}):
        path = "/v1/chat/completions" if "messages" in body else "/v1/audio/speech"
        conn.request("POST", path, json.dumps(body), hdr)
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)
    conn.request("POST", "/_mock/config", json.dumps({"transcript": "Changed."}))
    r = conn.getresponse()
    cfg = json.loads(r.read())
    conn.request("GET", "/_mock/stats")
    stats = json.loads(conn.getresponse().read())
    conn.request("GET", "/_mock/requests")
    recs = json.loads(conn.getresponse().read())
    conn.close()
    check("keep-alive: two API requests + control on one connection",
          statuses == [200, 200] and stats["connections"] == 1 and stats["handshakes"] == 1
          and stats["requests"] == 2, f"{statuses} {stats}")
    check("GET /_mock/requests lists requests in order", [x["endpoint"] for x in recs] == ["chat", "speech"])
    check("POST /_mock/config merges", cfg["transcript"] == "Changed." and cfg["reply"] == mo.DEFAULT_REPLY)
    st, _, out = Client(m, ctx).call("/_mock/config", {"faults": {"chat": ["nope"]}}, key=None)
    check("unknown fault name refused", st == 400)
    Client(m, ctx).call("/_mock/reset", b"", key=None)
    check("POST /_mock/reset clears records and config",
          m.requests() == [] and m.config()["transcript"] == mo.DEFAULT_TRANSCRIPT)


def test_certs(tmp, ctx):
    for cert in ("wrong_host", "untrusted"):
        with mo.MockOpenAI(cert_dir=tmp, cert=cert) as m:
            r = _catch(lambda: Client(m, ctx).call("/v1/chat/completions", {"model": "m", "messages": []}))
            reason = getattr(r, "reason", r)
            time.sleep(0.1)
            check(f"cert={cert}: verification fails, no handshake counted",
                  isinstance(reason, ssl.SSLCertVerificationError) and m.stats()["handshakes"] == 0
                  and m.stats()["connections"] == 1, repr(r))
    with mo.MockOpenAI(https=False) as m:
        st, _, out = Client(m, None).call("/v1/chat/completions",
                                          {"model": "m", "messages": [{"role": "user", "content": "x"}]})
        check("plain http mode", m.base_url.startswith("http://") and st == 200 and m.stats()["handshakes"] == 0)


def test_script(tmp, ctx):
    key = "sk-script-secret-" + "Z" * 20
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "mock_openai.py"), "--port", "0", "--cert-dir", tmp,
                          "--api-key", key], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(p.stdout.readline())
        m = type("M", (), {"base_url": f"https://localhost:{info['port']}/v1", "api_key": key})
        st, _, out = Client(m, ssl.create_default_context(cafile=info["ca"])).call(
            "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}, key=key)
        check("script mode prints {port, ca} and serves", st == 200 and os.path.exists(info["ca"]), str(info))
    finally:
        p.terminate()
        out, err = p.communicate(timeout=5)
    check("script mode exits on SIGTERM and never prints the key", p.returncode == 0 and key not in out + err,
          f"rc={p.returncode} {err[-300:]}")


def main():
    tmp = tempfile.mkdtemp(prefix="mock-openai-test-")
    t = time.time()
    paths = mo.make_ca(tmp)
    check("make_ca creates CA, server, wrong-host and untrusted certs",
          all(os.path.exists(x) for x in (paths["ca"], *paths["good"], *paths["wrong_host"], *paths["untrusted"])),
          f"{time.time() - t:.2f}s")
    ctx = ssl.create_default_context(cafile=paths["ca"])
    m = mo.MockOpenAI(cert_dir=tmp).start()
    try:
        c = Client(m, ctx)
        for fn in (lambda: test_endpoints(m, c), lambda: test_faults(m, c), lambda: test_keepalive_and_control(m, ctx),
                   lambda: test_coach_modes(m, c)):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                import traceback
                traceback.print_exc()
                check("no exception in test group", False, repr(e))
    finally:
        m.stop()
    test_certs(tmp, ctx)
    test_script(tmp, ctx)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
