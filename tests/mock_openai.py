#!/usr/bin/env python3
"""Test-only mock of the three OpenAI endpoints `interview` calls, over HTTPS
with a throwaway CA (or plain HTTP). Python 3.11 stdlib + the openssl CLI.

Module use (in-process, threads):
    m = MockOpenAI(cert_dir=tmp).start()   # m.port, m.base_url, m.ca, m.api_key
    m.configure({"reply": "...", "delays": {"token_ms": 20},
                 "faults": {"chat": ["429", "ok"]}})
    m.requests("chat"); m.stats(); m.reset(); m.stop()
Script use:
    python3 tests/mock_openai.py --port P --cert-dir D [--http] [--cert good|wrong_host|untrusted]
    prints one JSON line {"port":..,"ca":..,"base_url":..} then serves until SIGTERM/SIGINT.

Endpoints (prefix default /v1): POST audio/transcriptions (multipart), chat/completions
(JSON, SSE when stream=true), audio/speech (chunked mp3/wav/pcm). Seed 003 coach: transcriptions
with response_format=verbose_json ({duration, language, text, words[{word,start,end}] when
timestamp_granularities[] has "word", segments otherwise}); chat in JSON mode (response_format
json_object; refused without "json" in the messages, as the API does) answers questions, STAR
analysis or the final report as chosen by the system prompt (json_faults break them). Control, no auth:
POST /_mock/config, GET /_mock/config, GET /_mock/requests, GET /_mock/stats, POST /_mock/reset.
The API key is never printed, logged, recorded or echoed.

Profiles (--profile / MOCK_OPENAI_PROFILE / MockOpenAI(profile=...)) reproduce real servers' quirks:
  openai          the default above
  openai-current  today's model rules: gpt-5* / o* refuse max_tokens (400 unsupported_parameter, use
                  max_completion_tokens) and a temperature other than 1 (400 unsupported_value); other models
                  refuse reasoning_effort; gpt-4o*-transcribe answer json/text only (verbose_json: 400
                  unsupported_value on response_format), no duration, usage in tokens, stream=true as SSE
                  transcript.text.delta / transcript.text.done; tts-1* refuse instructions
  azure           the same rules behind /openai/v1 with the key in an api-key header (Bearer refused)
  ollama          chat only, any key, errors {"error": "text"}, other endpoints 404 in plain text
  vllm            chat only, errors {"object":"error","message":...}
  whisper-server  transcriptions only (speaches / faster-whisper-server), any key, word timestamps ignored
                  (verbose_json has segments, no words; json has no usage), errors {"detail": "..."}
  kokoro          speech only (Kokoro-FastAPI), its own voices (af_heart, af_bella, am_adam), others 400
                  {"detail": {"error": ..., "message": ...}}
Faults html_502 (an HTML page from a proxy) and text_503 (plain text) answer in those shapes on any profile."""
import argparse
import hashlib
import json
import math
import os
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_KEY = "sk-test-mock-0123456789"
DEFAULT_TRANSCRIPT = "I have five years of experience building distributed systems."
DEFAULT_REPLY = ("That's a great start. Can you tell me about a time you handled a production outage? "
                 "What did you learn from it?")
ENDPOINTS = {"audio/transcriptions": "transcriptions", "chat/completions": "chat", "audio/speech": "speech"}
FAULTS = ("ok", "500", "429", "401", "400", "hang", "reset_mid_body", "garbage", "bad_json",
          "slow_body", "close_before_response", "html_502", "text_503")
ALL_EPS = frozenset(("transcriptions", "chat", "speech"))
# prefix, how the key is checked, endpoints served, error body shape, today's model rules
PROFILES = {
    "openai": dict(prefix="/v1", auth="bearer", eps=ALL_EPS, errors="openai", rules=False),
    "openai-current": dict(prefix="/v1", auth="bearer", eps=ALL_EPS, errors="openai", rules=True),
    "azure": dict(prefix="/openai/v1", auth="api-key", eps=ALL_EPS, errors="openai", rules=True),
    "ollama": dict(prefix="/v1", auth="any", eps=frozenset(("chat",)), errors="string", rules=False),
    "vllm": dict(prefix="/v1", auth="bearer", eps=frozenset(("chat",)), errors="vllm", rules=False),
    "whisper-server": dict(prefix="/v1", auth="any", eps=frozenset(("transcriptions",)), errors="detail",
                           rules=False),
    "kokoro": dict(prefix="/v1", auth="any", eps=frozenset(("speech",)), errors="detail", rules=False),
}
KOKORO_VOICES = ("af_heart", "af_bella", "am_adam")
REASONING_MODEL = re.compile(r"^(o[1-9]|gpt-5)")
JSON_ONLY_STT = re.compile(r"^gpt-4o.*transcribe")
DELAY_KEYS = ("stt_ms", "stt_per_audio_s_ms", "first_token_ms", "token_ms", "tts_first_byte_ms", "tts_chunk_ms", "slow_body_ms")
MAX_BODY = 30 * 1024 * 1024


JSON_KINDS = ("questions", "analysis", "report")  # JSON-mode chat answers (seed 003 coach)
JSON_FAULTS = ("ok", "malformed", "not_json")


def default_config():
    return {"transcript": DEFAULT_TRANSCRIPT, "transcripts": [], "reply": DEFAULT_REPLY, "tts_chunk_bytes": 500,
            "delays": {k: (200 if k == "slow_body_ms" else 0) for k in DELAY_KEYS},
            "faults": {e: [] for e in ENDPOINTS.values()},
            "json_faults": {k: [] for k in JSON_KINDS}, "reasoning_models": [], "no_instructions_models": []}


QUESTION_TYPES = ("behavioral", "technical", "behavioral", "situational", "technical", "behavioral",
                  "situational", "technical")


def json_mode_kind(messages):
    """Which coach answer a JSON-mode request wants, told by its system prompt."""
    system = " ".join(m.get("content", "") for m in messages
                      if isinstance(m, dict) and m.get("role") == "system" and isinstance(m.get("content"), str))
    if "exactly 8 interview questions" in system:
        return "questions"
    if "STAR method" in system:
        return "analysis"
    if "final report" in system:
        return "report"
    return None


def json_mode_answer(kind, messages, fault):
    """Content of a JSON-mode answer: valid for the kind, or broken on a fault."""
    user = " ".join(m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user")
    if fault == "not_json":
        return "Sure! Here are your questions: 1. Tell me about yourself."
    if kind == "questions":
        n = 7 if fault == "malformed" else 8
        topic = (re.findall(r"[A-Z][a-z]+", user[user.find(":") + 1:]) or ["this"])[0]
        return json.dumps({"questions": [
            {"id": f"q{i + 1}", "type": QUESTION_TYPES[i],
             "text": f"Question {i + 1}: tell me about a time your {topic} work made a difference."}
            for i in range(n)]})
    if kind == "analysis":
        if fault == "malformed":
            return json.dumps({"score": "high", "star": {"situation": True}})
        fillers = int((re.findall(r"Filler words: (\d+)", user) or ["0"])[0])
        return json.dumps({"score": max(40, 90 - 5 * fillers),
                           "star": {"situation": True, "task": True, "action": True, "result": "percent" in user},
                           "feedback": "Good use of the STAR method; quantify the result and cut filler words."})
    if fault == "malformed":
        return json.dumps({"strengths": [], "improvements": "none"})
    return json.dumps({"strengths": ["Clear communication", "Concrete examples"],
                       "improvements": ["Use more metrics", "Fewer filler words"],
                       "microDrills": ["Retell one story in STAR form in 90 seconds", "Record a minute with no fillers"],
                       "followUpQuestion": "Can you give another example where you measured the impact of your work?"})


# ---- certificates ----------------------------------------------------------

def _openssl(cwd, *args):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")


def make_ca(dirpath):
    """Create (once) in dirpath: ca.pem/ca.key (throwaway CA), server.pem/key
    (DNS:localhost, IP:127.0.0.1, signed by the CA), wrong.pem/key (DNS:wrong.example,
    signed by the CA) and untrusted.pem/key (self-signed, localhost). Returns paths."""
    os.makedirs(dirpath, exist_ok=True)
    d = os.path.abspath(dirpath)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    paths = {"ca": p("ca.pem"), "ca_key": p("ca.key"),
             "good": (p("server.pem"), p("server.key")),
             "wrong_host": (p("wrong.pem"), p("wrong.key")),
             "untrusted": (p("untrusted.pem"), p("untrusted.key"))}
    if all(os.path.exists(f) for f in (paths["ca"], *paths["good"], *paths["wrong_host"], *paths["untrusted"])):
        return paths
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    leaf = ["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=serverAuth"]
    _openssl(d, "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
             "-subj", "/CN=interview mock test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, san in (("server", "localhost", "DNS:localhost,IP:127.0.0.1"),
                          ("wrong", "wrong.example", "DNS:wrong.example")):
        with open(p(name + ".ext"), "w") as f:
            f.write(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n"
                    f"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
        _openssl(d, "req", "-new", *key, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        _openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", "0x" + os.urandom(8).hex(), "-days", "3", "-out", name + ".pem",
                 "-extfile", name + ".ext")
    _openssl(d, "req", "-x509", *key, "-keyout", "untrusted.key", "-out", "untrusted.pem", "-days", "3",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", *leaf)
    return paths


# ---- request parsing -------------------------------------------------------

_PARAM_RE = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


def parse_params(value):
    """'type/sub; a=1; b="x y"' -> ('type/sub', {'a': '1', 'b': 'x y'})."""
    head, sep, rest = value.partition(";")
    params = {}
    for m in _PARAM_RE.finditer(sep + rest):
        v = m.group(2)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith('"') else v
    return head.strip().lower(), params


def parse_multipart(body, boundary):
    """RFC 7578 / RFC 2046 multipart body -> list of dicts
    {name, filename, content_type, data}. Raises ValueError when malformed."""
    delim = b"--" + boundary.encode("latin-1")
    if body.startswith(delim):
        pos = len(delim)
    else:  # a preamble is allowed before the first delimiter
        i = body.find(b"\r\n" + delim)
        if i < 0:
            raise ValueError("multipart: no opening boundary")
        pos = i + 2 + len(delim)
    parts = []
    while True:
        if body.startswith(b"--", pos):
            return parts  # close delimiter; the epilogue is ignored
        eol = body.find(b"\r\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise ValueError("multipart: bad boundary line")
        hend = body.find(b"\r\n\r\n", eol + 2)
        if hend < 0:
            raise ValueError("multipart: part headers not terminated")
        headers = {}
        for line in body[eol + 2:hend].split(b"\r\n"):
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if not colon:
                raise ValueError(f"multipart: bad header line {line[:60]!r}")
            headers[name.strip().lower()] = value.strip()
        end = body.find(b"\r\n" + delim, hend + 4)
        if end < 0:
            raise ValueError("multipart: missing close delimiter")
        disp, params = parse_params(headers.get("content-disposition", ""))
        if disp != "form-data" or "name" not in params:
            raise ValueError("multipart: part without Content-Disposition: form-data; name=...")
        parts.append({"name": params["name"], "filename": params.get("filename"),
                      "content_type": headers.get("content-type"), "data": body[hend + 4:end]})
        pos = end + 2 + len(delim)


def parse_wav(data):
    """Strict RIFF/WAVE check for what interview must send: PCM s16 mono 16 kHz
    (or G.711 mu-law, format 7, for held segments), consistent RIFF and data sizes. Returns info; raises ValueError."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    riff = struct.unpack_from("<I", data, 4)[0]
    if riff != len(data) - 8:
        raise ValueError(f"RIFF size {riff} != file size - 8 ({len(data) - 8})")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + size > len(data):
            raise ValueError(f"chunk {cid!r} size {size} runs past the end of the file")
        if cid == b"fmt " and size >= 16:
            fmt = struct.unpack_from("<HHIIHH", data, pos + 8)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            pcm = data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise ValueError("missing fmt or data chunk")
    tag, ch, rate, byte_rate, align, bits = fmt
    if (tag, ch, rate, bits, align, byte_rate) == (7, 1, 16000, 8, 1, 16000):  # G.711 mu-law (segments)
        return {"channels": ch, "sample_rate": rate, "bits": bits, "format": "mulaw", "samples": len(pcm),
                "duration_s": len(pcm) / 16000, "pcm_sha256": hashlib.sha256(pcm).hexdigest()}
    if (tag, ch, rate, bits, align, byte_rate) != (1, 1, 16000, 16, 2, 32000):
        raise ValueError(f"want PCM s16 (or mu-law) mono 16000 Hz, got format {tag} channels {ch} rate {rate} "
                         f"bits {bits} align {align} byte_rate {byte_rate}")
    if len(pcm) % 2:
        raise ValueError("odd PCM byte count")
    return {"channels": ch, "sample_rate": rate, "bits": bits, "format": "pcm16", "samples": len(pcm) // 2,
            "duration_s": len(pcm) / 32000, "pcm_sha256": hashlib.sha256(pcm).hexdigest()}


# ---- synthetic audio -------------------------------------------------------

MP3_FRAME_LEN = 192          # MPEG-2 Layer III, 64 kbps, 24 kHz: 72 * 64000 / 24000
MP3_HEADER = b"\xff\xf3\x84\xc0"  # sync, MPEG-2, layer III, no CRC | 64 kbps, 24 kHz, no pad | mono
MP3_SAMPLES = 576


def mp3_frame(gain):
    """One valid frame that decodes to silence: side info (72 bits, mono MPEG-2) has
    main_data_begin 0 and part2_3_length 0; global_gain (bits 30..37) = gain."""
    side = ((gain & 0xFF) << 34).to_bytes(9, "big")
    return MP3_HEADER + side + bytes(MP3_FRAME_LEN - 4 - 9)


def speech_gains(text):
    """Per-frame global_gain: two frames per word, 120..200 varying with the word;
    at least 3 frames (padding frames use 100)."""
    gains = []
    for w in text.split():
        g = 120 + (sum(w.encode()) * 7) % 81
        gains += [g, g - 10]
    return gains + [100] * max(0, 3 - len(gains))


def synth_speech(text, fmt):
    """-> (content_type, body bytes, info dict)."""
    gains = speech_gains(text)
    if fmt == "mp3":
        return "audio/mpeg", b"".join(mp3_frame(g) for g in gains), {"frames": len(gains), "gains": gains}
    n = len(gains) * MP3_SAMPLES  # same duration as the mp3
    pcm = struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / 24000)) for i in range(n)))
    info = {"samples": n, "duration_s": n / 24000}
    if fmt == "pcm":
        return "audio/pcm", pcm, info
    hdr = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16) + b"data" + struct.pack("<I", len(pcm))
    return "audio/wav", hdr + pcm, info


def verbose_transcript(text, granularities, word_s=0.35, lead_s=0.5):
    """verbose_json as whisper-1 returns it: words without punctuation, times in seconds."""
    words, t = [], lead_s
    for raw in text.split():
        w = raw.strip(".,!?;:\"")
        if not w:
            continue
        words.append({"word": w, "start": round(t, 2), "end": round(t + word_s - 0.05, 2)})
        t += word_s
    duration = round(t + lead_s, 2)
    out = {"task": "transcribe", "language": "english", "duration": duration, "text": text}
    if "word" in granularities:
        out["words"] = words
    if "segment" in granularities:
        out["segments"] = [{"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": " " + text, "tokens": [],
                            "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.2,
                            "no_speech_prob": 0.01}] if text else []
    out["usage"] = {"type": "duration", "seconds": math.ceil(duration)}
    return out


def _sleep_ms(ms):
    if ms and ms > 0:
        time.sleep(ms / 1000.0)


# ---- HTTP server -----------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, mock):
        self.mock = mock
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # Like a real API front end: without it, a response written in two
        # pieces waits for the client's delayed ACK (40 ms) on a kept-alive
        # connection, which no real upstream adds to a turn.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.mock._lock:
            self.mock._stats["connections"] += 1
            self.mock._live.add(sock)
        return sock, addr

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread, so a slow handshake never blocks accept().
        ctx = self.mock._tls
        if ctx is None:
            return self._serve(request, client_address)
        request.settimeout(10)
        try:
            tls = ctx.wrap_socket(request, server_side=True)  # detaches `request`
        except (OSError, ValueError):
            self.mock._count("handshake_failures")
            return
        finally:
            self.mock._forget(request)
        self.mock._count("handshakes")
        try:
            self._serve(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def _serve(self, sock, client_address):
        with self.mock._lock:
            self.mock._live.add(sock)
        try:
            _Handler(sock, client_address, self)
        finally:
            self.mock._forget(sock)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # network errors are expected in fault tests
            traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-openai/1"
    timeout = 120  # idle keep-alive connections are closed after this

    def log_message(self, fmt, *args):  # silent: nothing here may ever carry the key
        pass

    # -- plumbing
    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline(100).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(3)
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        body = self.rfile.read(n)
        if len(body) != n:
            raise ConnectionError("short body")
        return body

    def _send_simple(self, status, body, ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status, obj, headers=()):
        self._send_simple(status, json.dumps(obj).encode(), headers=headers)

    def _error(self, rec, status, message, etype="invalid_request_error", code=None, headers=(), param=None):
        if rec is not None:
            rec["status"] = status
            rec.setdefault("error", message)
        shape = PROFILES[self.server.mock.profile]["errors"]
        if shape == "string":
            body = {"error": message}
        elif shape == "vllm":
            body = {"object": "error", "message": message, "type": "BadRequestError", "param": param, "code": status}
        elif shape == "detail":
            body = {"detail": message if status != 400 else {"error": etype, "message": message}}
        else:
            body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
        self._json(status, body, headers=[("x-request-id", "req_" + uuid.uuid4().hex)] + list(headers))

    def _rst(self):
        time.sleep(0.1)  # let the client read what was sent before the RST discards it
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def _hang(self):
        """Never answer; return when the client goes away or the mock stops."""
        self.close_connection = True
        end = time.time() + 600
        while not self.server.mock._stopping.is_set() and time.time() < end:
            if select.select([self.connection], [], [], 0.1)[0]:
                try:
                    if not self.connection.recv(4096):
                        return
                except ssl.SSLWantReadError:
                    continue
                except OSError:
                    return

    def _send(self, rec, status, ctype, pieces, chunked, fault):
        """Send pieces [(bytes, kind)]. Headers go out with the first piece, so any
        sleep inside the generator before it is the time to first byte."""
        delays = self.server.mock._cfg()["delays"]
        started, sent = False, 0
        for data, kind in pieces:
            if not started:
                started = True
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
                self.send_header("openai-version", "2020-10-01")
                self.send_header("openai-processing-ms", str(int((time.time() - rec["t"]) * 1000)))
                self.end_headers()
                rec["status"], rec["headers_t"] = status, time.time()
            wire = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
            if fault == "reset_mid_body" and not chunked:
                wire = wire[:max(1, len(wire) // 2)]
            if fault == "slow_body":
                for i in range(len(wire)):
                    self.wfile.write(wire[i:i + 1])
                    _sleep_ms(delays["slow_body_ms"])
            else:
                self.wfile.write(wire)
            now = time.time()
            rec.setdefault("first_byte_t", now)
            rec["last_byte_t"] = now
            if kind == "token":
                rec["token_times"].append(now)
            sent += 1
            if fault == "reset_mid_body" and (not chunked or sent >= 2):
                return self._rst()  # part of the body went out, then RST
        if fault == "reset_mid_body":
            return self._rst()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        rec["done"] = True

    # -- dispatch
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        mock = self.server.mock
        rec = None
        try:
            path = self.path.split("?", 1)[0]
            body = self._read_body()
            if path.startswith("/_mock/"):
                return self._control(method, path[len("/_mock/"):], body)
            ep = ENDPOINTS.get(path[len(mock.prefix) + 1:]) if path.startswith(mock.prefix + "/") else None
            prof = PROFILES[mock.profile]
            if ep is not None and ep not in prof["eps"]:
                rec = mock._record(ep, self, body)
                rec["status"] = 404
                if prof["errors"] == "string":  # Go's mux
                    return self._send_simple(404, b"404 page not found", "text/plain; charset=utf-8")
                return self._error(None, 404, "Not Found")
            if ep is None:
                return self._error(None, 404, f"Invalid URL ({method} {path})")
            if method != "POST":
                return self._error(None, 405, f"Method {method} not allowed")
            if not getattr(self, "_api_conn", False):
                self._api_conn = True
                mock._count("api_connections")
            mock._count("requests")
            rec = mock._record(ep, self, body)
            auth = self.headers.get("Authorization")
            rec["auth"] = "ok" if auth == "Bearer " + mock.api_key else ("missing" if auth is None else "wrong")
            rec["api_key_header"] = ("ok" if self.headers.get("api-key") == mock.api_key
                                     else "missing" if self.headers.get("api-key") is None else "wrong")
            if prof["auth"] == "api-key":  # Azure: the key in api-key; a Bearer token is not an API key
                auth = self.headers.get("api-key")
                rec["auth"] = rec["api_key_header"] if rec["auth"] == "missing" else "wrong"
            elif prof["auth"] == "any":
                rec["auth"] = "ok"
            fault = rec["fault"] = mock._take_fault(ep)  # faults win over everything, one per request
            if fault in ("500", "429", "401", "400"):
                s = int(fault)
                msg = {500: "The server had an error while processing your request. (mock)",
                       429: "Rate limit reached (mock)", 401: "Incorrect API key provided. (mock)",
                       400: "Bad request (mock)"}[s]
                etype = {500: "server_error", 429: "requests"}.get(s, "invalid_request_error")
                hdr = [("Retry-After", "1"), ("retry-after-ms", "200")] if s == 429 else []
                code = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(s)
                return self._error(rec, s, msg, etype, code, hdr)
            if fault == "html_502":
                return self._send_simple(502, b"<html><head><title>502 Bad Gateway</title></head><body><center>"
                                         b"<h1>502 Bad Gateway</h1></center><hr><center>nginx (mock)</center>"
                                         b"</body></html>", "text/html")
            if fault == "text_503":
                return self._send_simple(503, b"upstream connect error or disconnect/reset before headers (mock)",
                                         "text/plain")
            if fault == "hang":
                return self._hang()
            if fault == "close_before_response":
                self.close_connection = True
                return
            if fault == "garbage":
                self.wfile.write(b"\x00\x17garbage, not HTTP \xff\xfe\r\n\r\n\x16\x03\x01")
                self.close_connection = True
                return
            if rec["auth"] != "ok":
                return self._error(rec, 401, "You didn't provide an API key." if auth is None
                                   else "Incorrect API key provided.", code="invalid_api_key")
            getattr(self, "_ep_" + ep)(rec, body, fault)
        except (OSError, ConnectionError):
            self.close_connection = True
            if rec is not None and not rec.get("done"):
                rec["aborted"] = True  # the client went away mid-answer (a cancel)
        except ValueError as e:
            self.close_connection = True
            try:
                self._error(None, 400, f"mock: {e}")
            except OSError:
                pass

    def _control(self, method, name, body):
        mock = self.server.mock
        if method == "GET" and name == "requests":
            return self._json(200, mock.requests())
        if method == "GET" and name == "stats":
            return self._json(200, mock.stats())
        if name == "config" and method == "GET":
            return self._json(200, mock.config())
        if name == "config" and method == "POST":
            try:
                mock.configure(json.loads(body or b"{}"))
            except (ValueError, TypeError, AttributeError) as e:
                return self._error(None, 400, f"mock config: {e}")
            return self._json(200, mock.config())
        if name == "reset" and method == "POST":
            mock.reset()
            return self._json(200, {"ok": True})
        return self._error(None, 404, f"unknown control {method} /_mock/{name}")

    # -- endpoints
    def _ep_transcriptions(self, rec, body, fault):
        cfg = self.server.mock._cfg()
        mime, params = parse_params(self.headers.get("Content-Type", ""))
        if mime != "multipart/form-data" or not params.get("boundary"):
            return self._error(rec, 400, "Content-Type must be multipart/form-data with a boundary")
        try:
            parts = parse_multipart(body, params["boundary"])
        except ValueError as e:
            return self._error(rec, 400, str(e))
        fields, file = {}, None
        for p in parts:
            if p["name"] == "file":
                file = p
                continue
            v = p["data"].decode("utf-8", "replace")
            fields[p["name"]] = fields[p["name"]] + [v] if p["name"].endswith("[]") and p["name"] in fields \
                else ([v] if p["name"].endswith("[]") else v)
        model = fields.pop("model", None)
        rec.update(model=model, fields=fields)
        if file is None or not file["filename"] or not file["content_type"]:
            return self._error(rec, 400, "'file' part with filename and Content-Type is required", code="invalid_file")
        rec.update(filename=file["filename"], content_type=file["content_type"], file_bytes=len(file["data"]))
        if not model:
            return self._error(rec, 400, "'model' is required")
        if (file["filename"].lower().endswith(".wav") or "wav" in file["content_type"].lower()
                or file["data"][:4] == b"RIFF"):
            try:
                rec["wav"] = parse_wav(file["data"])
                rec.update(samples=rec["wav"]["samples"], pcm_sha256=rec["wav"]["pcm_sha256"], format=rec["wav"]["format"])
            except ValueError as e:
                rec["wav_error"] = str(e)
                return self._error(rec, 400, f"mock: bad WAV: {e}", code="invalid_value")

        prof = self.server.mock.profile
        rules, rf = PROFILES[prof]["rules"], fields.get("response_format")
        json_only = rules and JSON_ONLY_STT.match(model)
        if json_only and rf not in (None, "json", "text"):
            return self._error(rec, 400, f"response_format '{rf}' is not compatible with model '{model}'. "
                               "Use 'json' or 'text' instead. (mock)", param="response_format",
                               code="unsupported_value")
        text = self.server.mock._take_transcript() or cfg["transcript"]
        rec["transcript"] = text
        audio_s = rec["wav"]["samples"] / 16000 if "wav" in rec else 0.0
        answer = {"text": text, "usage": {"type": "duration", "seconds": 1}}
        if json_only:  # tokens, not seconds: the duration is nowhere in the answer
            answer["usage"] = {"type": "tokens", "input_tokens": 50, "output_tokens": len(text.split()),
                               "total_tokens": 50 + len(text.split())}
        if prof == "whisper-server":
            answer = {"text": text}
        if rf == "verbose_json":
            grans = fields.get("timestamp_granularities[]") or ["segment"]
            answer = verbose_transcript(text, ["segment"] if prof == "whisper-server" else grans)
        if json_only and fields.get("stream") == "true":
            return self._stt_stream(rec, text, answer["usage"], fault)

        def pieces():  # the time grows with the audio, as the API's does
            _sleep_ms(cfg["delays"]["stt_ms"] + cfg["delays"]["stt_per_audio_s_ms"] * audio_s)
            yield (b'{"text": "' + text[:10].encode() if fault == "bad_json"
                   else json.dumps(answer).encode(), None)
        self._send(rec, 200, "application/json", pieces(), False, fault)

    def _stt_stream(self, rec, text, usage, fault):
        """stream=true on a gpt-4o*-transcribe model: SSE transcript.text.delta events, then .done."""
        cfg = self.server.mock._cfg()
        d = cfg["delays"]
        rec.update(tokens=re.findall(r"\s*\S+", text), token_times=[], stream=True)

        def pieces():
            _sleep_ms(d["stt_ms"])
            for i, tok in enumerate(rec["tokens"]):
                if i:
                    _sleep_ms(d["token_ms"])
                yield b"data: " + json.dumps({"type": "transcript.text.delta", "delta": tok}).encode() + b"\n\n", \
                    "token"
            yield b"data: " + json.dumps({"type": "transcript.text.done", "text": text, "usage": usage}).encode() + \
                b"\n\n", None
        self._send(rec, 200, "text/event-stream", pieces(), True, fault)

    def _chat_rules(self, rec, req):
        """Today's OpenAI parameter rules (openai-current, azure): True when a 400 was answered."""
        model = str(req.get("model"))
        if REASONING_MODEL.match(model) or model in self.server.mock._cfg()["reasoning_models"]:
            if "max_tokens" in req:
                self._error(rec, 400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                            "Use 'max_completion_tokens' instead. (mock)", param="max_tokens",
                            code="unsupported_parameter")
                return True
            if "temperature" in req and req["temperature"] != 1:
                self._error(rec, 400, f"Unsupported value: 'temperature' does not support "
                            f"{req['temperature']} with this model. Only the default (1) value is supported. "
                            "(mock)", param="temperature", code="unsupported_value")
                return True
        elif "reasoning_effort" in req:
            self._error(rec, 400, "Unrecognized request argument supplied: reasoning_effort (mock)",
                        param="reasoning_effort", code="unsupported_parameter")
            return True
        return False

    def _ep_chat(self, rec, body, fault):
        cfg = self.server.mock._cfg()
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            return self._error(rec, 400, "We could not parse the JSON body of your request.")
        for k in ("model", "messages", "temperature", "max_tokens", "max_completion_tokens", "stream",
                  "stream_options", "response_format", "reasoning_effort"):
            rec[k] = req.get(k)
        rec["params"] = sorted(req)
        if PROFILES[self.server.mock.profile]["rules"] and self._chat_rules(rec, req):
            return None
        if not req.get("model") or not isinstance(req.get("messages"), list) or not req["messages"]:
            return self._error(rec, 400, "'model' and a non-empty 'messages' array are required")
        d = cfg["delays"]
        content = cfg["reply"]
        rf = req.get("response_format")
        if isinstance(rf, dict) and rf.get("type") == "json_object":
            # the real API refuses JSON mode unless a message says "json"
            if not any("json" in str(m.get("content", "")).lower() for m in req["messages"] if isinstance(m, dict)):
                return self._error(rec, 400, "'messages' must contain the word 'json' in some form, to use "
                                   "'response_format' of type 'json_object'.")
            kind = json_mode_kind(req["messages"])
            rec["json_kind"] = kind
            if kind:
                jf = rec["json_fault"] = self.server.mock._take_json_fault(kind)
                content = json_mode_answer(kind, req["messages"], jf)
        tokens = re.findall(r"\s*\S+", content)
        rec.update(tokens=tokens, token_times=[])
        cid, created, model = "chatcmpl-mock" + uuid.uuid4().hex[:20], int(time.time()), req["model"]
        usage = {"prompt_tokens": 20, "completion_tokens": len(tokens), "total_tokens": 20 + len(tokens),
                 "prompt_tokens_details": {"cached_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        if not req.get("stream"):
            def whole():
                _sleep_ms(d["first_token_ms"] + d["token_ms"] * max(0, len(tokens) - 1))
                if fault == "bad_json":
                    yield b'{"id": "' + cid.encode() + b'", "choices": [', None
                    return
                yield json.dumps({"id": cid, "object": "chat.completion", "created": created, "model": model,
                                  "system_fingerprint": "fp_mock", "choices": [{
                                      "index": 0, "message": {"role": "assistant", "content": content,
                                                              "refusal": None},
                                      "logprobs": None, "finish_reason": "stop"}], "usage": usage}).encode(), None
            return self._send(rec, 200, "application/json", whole(), False, fault)
        opts = req.get("stream_options") or {}
        with_usage = opts.get("include_usage") is True

        def event(choices, **extra):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": "fp_mock", "choices": choices}
            if with_usage:
                obj["usage"] = None
            if opts.get("include_obfuscation", True):
                obj["obfuscation"] = "x" * (1 + len(cid) % 7)
            obj.update(extra)
            return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

        def delta(dl, finish=None):
            return [{"index": 0, "delta": dl, "logprobs": None, "finish_reason": finish}]

        def pieces():
            _sleep_ms(d["first_token_ms"])
            yield event(delta({"role": "assistant", "content": ""})), None
            for i, tok in enumerate(tokens):
                if i:
                    _sleep_ms(d["token_ms"])
                if fault == "bad_json" and i == 1:
                    yield b'data: {"id":"' + cid.encode() + b'","choices":[{"delta":{"content":' + b"\n\n", "token"
                else:
                    yield event(delta({"content": tok})), "token"
            yield event(delta({}, "stop")), None
            if with_usage:
                yield event([], usage=usage), None
            yield b"data: [DONE]\n\n", None
        self._send(rec, 200, "text/event-stream; charset=utf-8", pieces(), True, fault)

    def _ep_speech(self, rec, body, fault):
        cfg = self.server.mock._cfg()
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            return self._error(rec, 400, "We could not parse the JSON body of your request.")
        for k in ("model", "input", "voice", "response_format", "speed", "instructions", "stream_format"):
            rec[k] = req.get(k)
        fmt = req.get("response_format") or "mp3"
        text = req.get("input")
        if not req.get("model") or not req.get("voice") or not isinstance(text, str) or not text:
            return self._error(rec, 400, "'model', 'input' and 'voice' are required")
        if len(text) > 4096:
            return self._error(rec, 400, "'input' is longer than 4096 characters", code="string_above_max_length")
        if fmt not in ("mp3", "wav", "pcm"):
            return self._error(rec, 400, f"mock supports response_format mp3, wav, pcm (not {fmt!r})")
        rec["params"] = sorted(req)
        prof = self.server.mock.profile
        if PROFILES[prof]["rules"] and "instructions" in req and (
                str(req["model"]).startswith("tts-1") or req["model"] in cfg["no_instructions_models"]):
            return self._error(rec, 400, "Unsupported parameter: 'instructions' is not supported with this model. "
                               "(mock)", param="instructions", code="unsupported_parameter")
        if prof == "kokoro" and req["voice"] not in KOKORO_VOICES:
            return self._error(rec, 400, f"Voice '{req['voice']}' not found. Available: {', '.join(KOKORO_VOICES)} "
                               "(mock)", "validation_error")
        ctype, audio, info = synth_speech(text, fmt)
        if fault == "bad_json":  # 200 with a body that is not audio at all
            audio = b"\x00junk, not audio\n" * 40
        rec.update(audio_bytes=len(audio), **info)
        d, step = cfg["delays"], max(1, int(cfg["tts_chunk_bytes"]))

        def pieces():
            _sleep_ms(d["tts_first_byte_ms"])
            for off in range(0, len(audio), step):
                if off:
                    _sleep_ms(d["tts_chunk_ms"])
                yield audio[off:off + step], None
        self._send(rec, 200, ctype, pieces(), True, fault)


# ---- public API ------------------------------------------------------------

class MockOpenAI:
    """In-process mock. cert: "good" (CA-signed localhost/127.0.0.1), "wrong_host"
    (CA-signed wrong.example) or "untrusted" (self-signed). https=False: plain HTTP."""

    def __init__(self, port=0, host="127.0.0.1", cert_dir=None, https=True, cert="good",
                 api_key=DEFAULT_KEY, prefix=None, profile="openai"):
        if cert not in ("good", "wrong_host", "untrusted"):
            raise ValueError("cert must be good, wrong_host or untrusted")
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}")
        self.profile = profile
        prefix = PROFILES[profile]["prefix"] if prefix is None else prefix
        self.host, self.port, self.https, self.cert = host, port, https, cert
        self.api_key, self.prefix = api_key, "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.cert_dir = cert_dir
        self.ca = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._live = set()
        self._tls = None
        self._server = None
        self.reset()

    # lifecycle
    def start(self):
        if self.https:
            if self.cert_dir is None:
                self.cert_dir = tempfile.mkdtemp(prefix="mock-openai-")
            paths = make_ca(self.cert_dir)
            self.ca = paths["ca"]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.maximum_version = ssl.TLSVersion.TLSv1_3
            ctx.load_cert_chain(*paths[self.cert])
            self._tls = ctx
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         name="mock-openai", daemon=True).start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            live = list(self._live)
        for s in live:  # wake handler threads blocked on idle keep-alive reads
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        host = f"[{self.host}]" if ":" in self.host else ("localhost" if self.host == "127.0.0.1" else self.host)
        return f"{'https' if self.https else 'http'}://{host}:{self.port}{self.prefix}"

    # state
    def reset(self):
        """Clear recorded requests, faults, config and counters."""
        with self._lock:
            self._config = default_config()
            self._records = []
            self._stats = dict.fromkeys(("connections", "handshakes", "handshake_failures", "requests",
                                         "api_connections"), 0)

    def configure(self, settings=None, **kw):
        """Merge settings: transcript, transcripts [texts answered in order], reply, api_key, tts_chunk_bytes, delays{...},
        faults{endpoint: [names]} (a given endpoint's list replaces the old one),
        json_faults{questions|analysis|report: ["malformed"|"not_json"|"ok", ...]}."""
        settings = dict(settings or {}, **kw)
        with self._lock:
            cfg, key = json.loads(json.dumps(self._config)), self.api_key  # all or nothing
            for k, v in settings.items():
                if k in ("transcript", "reply"):
                    cfg[k] = str(v)
                elif k == "transcripts":  # answered in order, one per transcription, then "transcript"
                    cfg[k] = [str(x) for x in v]
                elif k in ("reasoning_models", "no_instructions_models"):  # more models under the gpt-5 / o* rules (a fine-tune, a new name)
                    cfg[k] = [str(x) for x in v]
                elif k == "api_key":
                    key = str(v)
                elif k == "tts_chunk_bytes":
                    cfg[k] = max(1, int(v))
                elif k == "delays":
                    for dk, dv in v.items():
                        if dk not in DELAY_KEYS:
                            raise ValueError(f"unknown delay {dk!r}")
                        cfg["delays"][dk] = float(dv)
                elif k == "json_faults":
                    for kind, names in v.items():
                        names = [names] if isinstance(names, str) else list(names)
                        if kind not in JSON_KINDS or any(n not in JSON_FAULTS for n in names):
                            raise ValueError(f"bad json fault spec {kind!r}: {names!r}")
                        cfg["json_faults"][kind] = names
                elif k == "faults":
                    for ep, names in v.items():
                        names = [names] if isinstance(names, str) else list(names)
                        if ep not in cfg["faults"] or any(n not in FAULTS for n in names):
                            raise ValueError(f"bad fault spec {ep!r}: {names!r} (faults: {', '.join(FAULTS)})")
                        cfg["faults"][ep] = names
                else:
                    raise ValueError(f"unknown setting {k!r}")
            self._config, self.api_key = cfg, key

    def config(self):
        with self._lock:
            return json.loads(json.dumps(self._config))

    def requests(self, endpoint=None):
        """Recorded API requests in arrival order (copies), optionally of one endpoint."""
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._records if endpoint in (None, r["endpoint"])]

    def stats(self):
        with self._lock:
            return dict(self._stats)

    # internals used by the handler
    def _count(self, name):
        with self._lock:
            self._stats[name] += 1

    def _forget(self, sock):
        with self._lock:
            self._live.discard(sock)

    def _cfg(self):
        return self.config()

    def _take_json_fault(self, kind):
        with self._lock:
            q = self._config["json_faults"][kind]
            f = q.pop(0) if q else None
        return None if f == "ok" else f

    def _take_transcript(self):
        with self._lock:
            q = self._config["transcripts"]
            return q.pop(0) if q else None

    def _take_fault(self, ep):
        with self._lock:
            q = self._config["faults"][ep]
            f = q.pop(0) if q else None
        return None if f == "ok" else f

    def _record(self, ep, handler, body):
        rec = {"endpoint": ep, "method": handler.command, "path": handler.path, "t": time.time(),
               "headers": {k: v for k, v in handler.headers.items() if k.lower() not in ("authorization", "api-key")},
               "body_bytes": len(body), "status": None}
        with self._lock:
            rec["seq"] = len(self._records)
            self._records.append(rec)
        return rec


def main():
    ap = argparse.ArgumentParser(description="mock OpenAI server for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--cert-dir", help="where make_ca() writes/reuses certificates (default: a temp dir)")
    ap.add_argument("--cert", default="good", choices=("good", "wrong_host", "untrusted"))
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--prefix", default=None, help="path prefix (default: the profile's, /v1 or /openai/v1)")
    ap.add_argument("--profile", default=os.environ.get("MOCK_OPENAI_PROFILE", "openai"), choices=sorted(PROFILES),
                    help="server quirks to reproduce (see the module doc)")
    ap.add_argument("--api-key", default=os.environ.get("MOCK_OPENAI_API_KEY", DEFAULT_KEY),
                    help="expected key (default $MOCK_OPENAI_API_KEY or a built-in test key)")
    a = ap.parse_args()
    m = MockOpenAI(a.port, a.host, a.cert_dir, not a.http, a.cert, a.api_key, a.prefix, a.profile).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the line: a caller may stop us right after reading it
        signal.signal(sig, lambda *_: done.set())
    print(json.dumps({"port": m.port, "ca": m.ca, "base_url": m.base_url}), flush=True)
    done.wait()
    m.stop()


if __name__ == "__main__":
    main()
