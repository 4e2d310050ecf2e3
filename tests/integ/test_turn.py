"""The interview turn end to end: the built binary, an independent WebSocket
client (Python `websockets`) speaking seed 001/002 and seed 000 as their
clients would, and the mock OpenAI server (tests/mock_openai.py) over real TLS
with a CA made at test time. The mock checks what it receives (the WAV holds
exactly the samples the client sent) and produces faults on demand."""
import asyncio
import base64
import hashlib
import json
import os
import struct
import sys
import tempfile
import time

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI, synth_speech  # noqa: E402
from wsutil import ISO_RE, Server, check, run_tests, measure  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="interview-ca-")
REPLY = ("Thanks for sharing that. How did you decide which metrics mattered most? "
         "Walk me through one concrete trade-off you made.")


def server_for(mock, **env):
    base = {"OPENAI_API_KEY": mock.api_key, "OPENAI_BASE_URL": mock.base_url,
            "UPSTREAM_CONNECT_TIMEOUT": "2s", "UPSTREAM_FIRST_BYTE_TIMEOUT": "3s"}
    if mock.https:
        base["SSL_CERT_FILE"] = mock.ca
    base.update(env)
    return Server(**base)


VAD_EVENTS = ('"type":"speech_started"', '"type":"speech_stopped"')


async def recv(ws):
    """The next message, past the VAD's speech_started/speech_stopped events: they are
    sent in every mode and checked in test_conversation.py, not here."""
    while True:
        m = await ws.recv()
        if isinstance(m, bytes) or not any(v in m for v in VAD_EVENTS):
            return m


async def collect(ws, until, timeout=15.0):
    """Events until one whose type is in `until` (or an error when 'error' is listed).
    Each event is (arrival time, dict) or (arrival time, bytes)."""
    out = []
    deadline = time.time() + timeout
    while True:
        m = await asyncio.wait_for(recv(ws), max(0.1, deadline - time.time()))
        ev = m if isinstance(m, bytes) else json.loads(m)
        out.append((time.time(), ev))
        if isinstance(ev, dict) and ev.get("type") in until:
            return out


def types(events):
    return ["<binary>" if isinstance(e, bytes) else e["type"] for _, e in events]


def mp3_frames(data):
    """Split data into MPEG-2 Layer III frames of the mock's shape; None if not whole frames."""
    frames = []
    off = 0
    while off < len(data):
        if data[off] != 0xFF or (data[off + 1] & 0xE0) != 0xE0 or off + 192 > len(data):
            return None
        frames.append(data[off:off + 192])
        off += 192
    return frames


def frame_gain(frame):
    side = int.from_bytes(frame[4:13], "big")
    return (side >> 34) & 0xFF


def gain_amplitude(g):
    r = lambda x: 2 ** ((x - 210) / 16)  # noqa: E731  (src/mp3.h documents this mapping)
    if g <= 100:
        return 0.0
    if g >= 210:
        return 1.0
    return (r(g) - r(100)) / (1 - r(100))


def check_audio(name, events, mock, since=0):
    """Every binary message is whole MP3 frames (at least two), its amplitude event
    matches the frames' gain, and all audio the mock sent arrives once, in order."""
    ok_frames, ok_amp = True, True
    received = b""
    for i, (_, ev) in enumerate(events):
        if not isinstance(ev, bytes):
            continue
        frames = mp3_frames(ev)
        ok_frames &= frames is not None and len(frames) >= 2
        prev = events[i - 1][1]
        want = gain_amplitude(max(frame_gain(f) for f in frames)) if frames else -1
        ok_amp &= isinstance(prev, dict) and prev.get("type") == "ai_audio_chunk" and \
            abs(prev.get("amplitude", -9) - want) < 0.002
        received += ev
    sent = b"".join(synth_speech(r["input"], "mp3")[1] for r in mock.requests("speech")[since:]
                    if r["status"] == 200)
    check(f"{name}: every binary message is whole MP3 frames, at least two", ok_frames)
    check(f"{name}: each ai_audio_chunk amplitude is derived from its frames' gain", ok_amp)
    check(f"{name}: all synthesized audio arrives once and in order", received == sent and len(sent) > 0,
          f"{len(received)} vs {len(sent)}")


def pcm_sha(samples):
    return hashlib.sha256(struct.pack(f"<{len(samples)}h", *samples)).hexdigest()


def as_int16(v):
    return v - 65536 if v > 32767 else v


# ---- seed 001/002 ---------------------------------------------------------------

async def seed001_flow(srv, mock):
    async with websockets.connect(srv.url("/ws/candidate-1"), max_size=None) as ws:
        greet = json.loads(await recv(ws))
        check("seed 001 client: greeting on connect (extra type, ignorable)", greet["type"] == "greeting")
        await ws.send(json.dumps({"type": "start_interview", "timestamp": "2024-11-25T10:00:00Z"}))
        ev = await collect(ws, {"interview_started", "error"})
        t = types(ev)
        check("start_interview -> thinking, audio, interview_started",
              t[0] == "thinking" and t[-1] == "interview_started" and "<binary>" in t, t)
        check("interview_started carries the model's opening line", ev[-1][1].get("message", "").strip() == REPLY)
        check("events carry ISO-8601 timestamps", all(ISO_RE.match(e["timestamp"]) for _, e in ev
                                                      if isinstance(e, dict)))
        check_audio("opening", ev, mock)
        chat = mock.requests("chat")[-1]
        check("opening request: system prompt, streamed, temperature 0.7, max_tokens 150",
              chat["messages"][0]["role"] == "system" and chat["stream"] is True and
              chat["temperature"] == 0.7 and chat["max_tokens"] == 150, chat)
        tts = mock.requests("speech")
        check("TTS requests: tts-1, alloy, mp3, one per sentence covering the reply",
              all(r["model"] == "tts-1" and r["voice"] == "alloy" and r["response_format"] == "mp3" for r in tts)
              and " ".join(r["input"].strip() for r in tts) == REPLY and len(tts) >= 2,
              [r["input"] for r in tts])

        samples = [(i * 37) % 65536 for i in range(1024)]  # uint16 view, as seed 001's client sends
        await ws.send(json.dumps({"type": "audio_chunk", "data": samples}))
        amp = json.loads(await recv(ws))
        s16 = [as_int16(v) for v in samples]
        want = min((sum(x * x for x in s16) / len(s16)) ** 0.5 / 32768, 1.0)
        check("audio_chunk -> amplitude = min(rms/32768, 1)",
              amp["type"] == "amplitude" and abs(amp["value"] - want) < 1e-3, (amp, want))
        more = [1000, -1000, 32767, -32768] * 256
        await ws.send(json.dumps({"type": "audio_chunk", "data": more}))
        await recv(ws)
        handshakes = mock.stats()["handshakes"]
        n_speech = len(mock.requests("speech"))
        mark = time.time()
        await ws.send(json.dumps({"type": "send_for_AI_processing"}))
        ev = await collect(ws, {"ai_response_complete", "error"})
        t = [x for x in types(ev) if x not in ("ai_audio_chunk", "<binary>")]
        check("send_for_AI_processing -> user_transcript, thinking, thinking_complete, ai_response_complete",
              t == ["user_transcript", "thinking", "thinking_complete", "ai_response_complete"], types(ev))
        first_audio = next(i for i, x in enumerate(types(ev)) if x == "<binary>")
        check("audio comes after thinking_complete", types(ev).index("thinking_complete") < first_audio)
        check("ai_response_complete has the full reply", ev[-1][1]["text"].strip() == REPLY)
        stt = mock.requests("transcriptions")[-1]
        check("the WAV upstream holds exactly the samples sent (16 kHz mono s16)",
              stt["samples"] == 2048 and stt["pcm_sha256"] == pcm_sha(s16 + more) and
              stt["wav"]["sample_rate"] == 16000 and stt["wav"]["channels"] == 1, stt.get("wav"))
        check("transcription request: whisper-1, a .wav file", stt["model"] == "whisper-1" and
              stt["filename"].endswith(".wav"))
        msgs = mock.requests("chat")[-1]["messages"]
        check("answer request: history (opening line) then the new answer",
              msgs[-1] == {"role": "user", "content": mock.config()["transcript"]} and
              msgs[-2]["role"] == "assistant" and msgs[-2]["content"].strip() == REPLY, msgs)
        check_audio("answer", ev, mock, n_speech)
        check("second turn reuses the upstream TLS connections (no new handshake)",
              mock.stats()["handshakes"] == handshakes, (handshakes, mock.stats()))
        toks = mock.requests("chat")[-1]["token_times"]
        first_bin = ev[first_audio][0]
        measure("first_audio_before_last_token_ms", int((toks[-1] - first_bin) * 1000))
        measure("send_to_first_audio_ms", int((first_bin - mark) * 1000))
        check("first audio byte reached the client before the model finished writing",
              first_bin < toks[-1], (first_bin, toks[-1]))
        await ws.send(json.dumps({"type": "end_interview"}))
        ev = await collect(ws, {"interview_ended"})
        try:
            await asyncio.wait_for(recv(ws), 3)
        except websockets.ConnectionClosed:
            pass
        check("end_interview -> interview_ended, close 1000", ws.close_code == 1000, ws.close_code)


def test_seed001():
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(reply=REPLY, delays={"token_ms": 60})
        with server_for(mock) as srv:
            asyncio.run(seed001_flow(srv, mock))


async def validation_flow(srv, mock):
    async with websockets.connect(srv.url("/ws/v1")) as ws:
        await recv(ws)

        async def expect(msg, code, name):
            await ws.send(json.dumps(msg))
            m = json.loads(await asyncio.wait_for(recv(ws), 5))
            check(name, m.get("type") == "error" and m.get("code") == code and m.get("message"), m)

        await expect({"type": "audio_chunk", "data": [70000]}, "INVALID_AUDIO", "sample over 65535 -> INVALID_AUDIO")
        await expect({"type": "audio_chunk", "data": [-40000]}, "INVALID_AUDIO", "sample under -32768 -> INVALID_AUDIO")
        await expect({"type": "audio_chunk", "data": [1.5]}, "INVALID_AUDIO", "fractional sample -> INVALID_AUDIO")
        await expect({"type": "audio_chunk", "data": ["1"]}, "INVALID_AUDIO", "string sample -> INVALID_AUDIO")
        await expect({"type": "audio_chunk", "data": [0] * 16001}, "INVALID_AUDIO", "oversize array -> INVALID_AUDIO")
        await expect({"type": "audio_chunk"}, "INVALID_MESSAGE", "audio_chunk without data -> INVALID_MESSAGE")
        await expect({"type": "audio_chunk", "data": {"a": 1}}, "INVALID_MESSAGE", "data of wrong type -> INVALID_MESSAGE")
        await expect({"type": "send_for_AI_processing"}, "EMPTY_ANSWER", "nothing recorded -> EMPTY_ANSWER")
        for _ in range(16):  # 16 x 1024 samples > MAX_ANSWER_SECONDS=1 (16000)
            await ws.send(json.dumps({"type": "audio_chunk", "data": [100] * 1024}))
        got = [json.loads(await recv(ws)) for _ in range(17)]
        codes = [m.get("code") for m in got if m["type"] == "error"]
        check("audio past the answer cap -> BUFFER_ERROR (amplitude still answered)",
              codes == ["BUFFER_ERROR"] and sum(m["type"] == "amplitude" for m in got) == 16, got[-2:])
        mock.configure(delays={"stt_ms": 800})
        await ws.send(json.dumps({"type": "send_for_AI_processing"}))
        await ws.send(json.dumps({"type": "send_for_AI_processing"}))
        ev = await collect(ws, {"ai_response_complete"})
        errs = [e for _, e in ev if isinstance(e, dict) and e["type"] == "error"]
        check("second request while one runs -> ALREADY_PROCESSING, first completes",
              [e["code"] for e in errs] == ["ALREADY_PROCESSING"], errs)
        check("the capped answer kept what it held (16000 samples)",
              mock.requests("transcriptions")[-1]["samples"] == 16000)
        await ws.send('{"type":"ping"}')
        check("connection still usable after every error", json.loads(await recv(ws))["type"] == "pong")


def test_validation():
    with MockOpenAI(cert_dir=CERTS) as mock:
        with server_for(mock, MAX_ANSWER_SECONDS="1") as srv:
            asyncio.run(validation_flow(srv, mock))


def test_no_key():
    async def go(srv):
        async with websockets.connect(srv.url("/ws/nokey")) as ws:
            await recv(ws)
            await ws.send('{"type":"start_interview"}')
            m = json.loads(await recv(ws))
            check("without a key, an AI request gets an error saying the key is missing",
                  m["type"] == "error" and "OPENAI_API_KEY" in m["message"], m)
            await ws.send(json.dumps({"type": "audio_chunk", "data": [5] * 1024}))
            check("amplitude works without a key", json.loads(await recv(ws))["type"] == "amplitude")
            await ws.send('{"type":"ping"}')
            check("ping works without a key", json.loads(await recv(ws))["type"] == "pong")
    with Server() as srv:
        asyncio.run(go(srv))


def test_history_window():
    async def go(srv, mock):
        async with websockets.connect(srv.url("/ws/hist"), max_size=None) as ws:
            await recv(ws)
            for i in range(3):
                await ws.send(json.dumps({"type": "audio_chunk", "data": [i + 1] * 1024}))
                await recv(ws)
                await ws.send('{"type":"send_for_AI_processing"}')
                await collect(ws, {"ai_response_complete"})
            msgs = mock.requests("chat")[-1]["messages"]
            check("HISTORY_MESSAGES=2: system + last 2 messages + the new answer",
                  len(msgs) == 4 and msgs[0]["role"] == "system" and [m["role"] for m in msgs[1:]] ==
                  ["user", "assistant", "user"], [m["role"] for m in msgs])
    with MockOpenAI(cert_dir=CERTS) as mock:
        with server_for(mock, HISTORY_MESSAGES="2") as srv:
            asyncio.run(go(srv, mock))


# ---- faults --------------------------------------------------------------------

FAULT_ROWS = [
    # endpoint, faults, expected error code (None = recovered by retry), what must be true after
    ("transcriptions", ["500", "500", "500"], "TRANSCRIPTION_ERROR", "audio kept"),
    ("transcriptions", ["429"], None, "retried after Retry-After"),
    ("transcriptions", ["401"], "TRANSCRIPTION_ERROR", "not retried"),
    ("transcriptions", ["garbage", "garbage", "garbage"], "TRANSCRIPTION_ERROR", "audio kept"),
    ("transcriptions", ["bad_json"], "TRANSCRIPTION_ERROR", "audio kept"),
    # a reused keep-alive connection that fails before answering is retried for free (stale)
    ("transcriptions", ["close_before_response"] * 6, "TRANSCRIPTION_ERROR", "audio kept"),
    ("transcriptions", ["hang"], None, "retried after the first-byte timeout"),
    ("transcriptions", ["hang"] * 3, "TRANSCRIPTION_ERROR", "timeout"),
    ("chat", ["500", "500", "500"], "AI_RESPONSE_ERROR", "transcript kept"),
    ("chat", ["hang"] * 3, "AI_RESPONSE_ERROR", "timeout"),
    ("chat", ["bad_json"], "AI_RESPONSE_ERROR", "partial"),
    ("chat", ["reset_mid_body"], "AI_RESPONSE_ERROR", "partial"),
    ("speech", ["500", "500", "500"], "TTS_ERROR", "text delivered"),
    ("speech", ["reset_mid_body"], "TTS_ERROR", "text delivered"),
    ("speech", ["bad_json"], "TTS_ERROR", "text delivered"),
]


async def fault_flow(srv, mock):
    async with websockets.connect(srv.url("/ws/faults"), max_size=None) as ws:
        await recv(ws)
        for ep, faults, code, after in FAULT_ROWS:
            mock.configure(faults={ep: list(faults)})
            samples = [len(faults) * 7 + len(ep)] * 1024
            await ws.send(json.dumps({"type": "audio_chunk", "data": samples}))
            await recv(ws)
            n_stt = len(mock.requests("transcriptions"))
            t0 = time.time()
            await ws.send('{"type":"send_for_AI_processing"}')
            ev = await collect(ws, {"ai_response_complete", "error"} if ep != "speech" and code
                               else {"ai_response_complete"}, timeout=20)
            errs = [e for _, e in ev if isinstance(e, dict) and e["type"] == "error"]
            name = f"fault {ep} {'+'.join(faults)}"
            if code is None:
                check(f"{name}: recovered by a retry, no error",
                      not errs and len(mock.requests("transcriptions")) - n_stt == 2, errs)
            else:
                check(f"{name} -> {code}", errs and errs[0]["code"] == code, errs or types(ev))
            if ep == "speech":
                check(f"{name}: the reply text is still delivered",
                      ev[-1][1]["type"] == "ai_response_complete" and ev[-1][1]["text"].strip() ==
                      mock.config()["reply"])
            if ep == "chat" and after == "partial" and ev[-1][1]["type"] == "error":
                pass
            if ev[-1][1]["type"] == "error" or after == "partial":
                # whatever the fault, the next send_for_AI_processing completes
                if ev[-1][1]["type"] != "ai_response_complete":
                    try:
                        more = await collect(ws, {"ai_response_complete"}, timeout=1.0)
                        ev += more
                    except asyncio.TimeoutError:
                        pass
                mock.configure(faults={ep: []})
                if ev[-1][1]["type"] != "ai_response_complete":
                    await ws.send('{"type":"send_for_AI_processing"}')
                    ev2 = await collect(ws, {"ai_response_complete", "error"}, timeout=20)
                    check(f"{name}: the next turn works", ev2[-1][1]["type"] == "ai_response_complete",
                          types(ev2))
                    if after == "audio kept":
                        stt = mock.requests("transcriptions")
                        good = [r for r in stt if r.get("status") == 200]
                        check(f"{name}: the retry sent the same audio", good and good[-1]["pcm_sha256"] ==
                              pcm_sha(samples), stt[-1].get("samples"))
                    if after == "transcript kept":
                        check(f"{name}: the retry asked the model again without re-transcribing",
                              len(mock.requests("transcriptions")) - n_stt == 1)
            if after == "timeout":
                measure(f"fault_{ep}_hang_error_after_ms", int((time.time() - t0) * 1000))
        await ws.send('{"type":"ping"}')
        check("after the whole fault matrix the connection still answers", json.loads(await recv(ws))["type"]
              == "pong")


def test_faults():
    with MockOpenAI(cert_dir=CERTS) as mock:
        with server_for(mock, UPSTREAM_FIRST_BYTE_TIMEOUT="1s", UPSTREAM_IDLE_TIMEOUT="1s",
                        UPSTREAM_MAX_RETRIES="2") as srv:
            asyncio.run(fault_flow(srv, mock))


def test_tls_faults():
    async def one(srv, name, code):
        async with websockets.connect(srv.url("/ws/tls")) as ws:
            await recv(ws)
            await ws.send(json.dumps({"type": "audio_chunk", "data": [1] * 1024}))
            await recv(ws)
            await ws.send('{"type":"send_for_AI_processing"}')
            ev = await collect(ws, {"error", "ai_response_complete"}, timeout=20)
            check(name, ev[-1][1].get("code") == code, ev[-1][1])
    for cert, what in (("wrong_host", "certificate for the wrong host"), ("untrusted", "untrusted CA")):
        with MockOpenAI(cert_dir=tempfile.mkdtemp(prefix="ca-"), cert=cert) as mock:
            good = MockOpenAI(cert_dir=CERTS)  # the CA the server trusts
            good.start()
            good.stop()
            with server_for(mock, SSL_CERT_FILE=good.ca if cert == "untrusted" else mock.ca) as srv:
                asyncio.run(one(srv, f"upstream with {what} -> TRANSCRIPTION_ERROR", "TRANSCRIPTION_ERROR"))
                check(f"{what}: nothing reached the mock's API", mock.requests() == [])
    with Server(OPENAI_API_KEY="sk-test-x", OPENAI_BASE_URL="https://nonexistent.invalid/v1",
                UPSTREAM_CONNECT_TIMEOUT="2s", UPSTREAM_MAX_RETRIES="0") as srv:
        asyncio.run(one(srv, "DNS failure -> TRANSCRIPTION_ERROR", "TRANSCRIPTION_ERROR"))
        log = srv.log()
        check("the API key never appears in the log", "sk-test-x" not in log)


def test_loop_responsive():
    async def go(srv, mock):
        async with websockets.connect(srv.url("/ws/slow")) as busy, \
                websockets.connect(srv.url("/ws/other")) as other:
            await busy.recv()
            await other.recv()
            await busy.send('{"type":"start_interview"}')
            await asyncio.sleep(0.2)  # the chat call is now hanging upstream
            worst = 0.0
            for _ in range(20):
                t = time.time()
                await other.send('{"type":"ping"}')
                m = json.loads(await other.recv())
                worst = max(worst, time.time() - t)
                await asyncio.sleep(0.05)
            measure("ping_rtt_worst_ms_while_upstream_hangs", round(worst * 1000, 2))
            check("other clients' pings are answered while an upstream call hangs",
                  m["type"] == "pong" and worst < 0.25, worst)
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(faults={"chat": ["hang"]})
        with server_for(mock, UPSTREAM_FIRST_BYTE_TIMEOUT="5s") as srv:
            asyncio.run(go(srv, mock))


def test_slow_reader():
    """A client that reads slowly through a small socket buffer and a small
    send ring still gets every audio piece and the final event (backpressure
    pauses the TTS download instead of dropping anything)."""
    import socket as so

    async def go(srv, mock):
        sock = so.socket()
        sock.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        async with websockets.connect(srv.url("/ws/slowpoke"), sock=sock, max_size=None,
                                      max_queue=1, read_limit=2048) as ws:
            await recv(ws)
            await ws.send('{"type":"start_interview"}')
            events = []
            deadline = time.time() + 60
            while time.time() < deadline:
                m = await asyncio.wait_for(recv(ws), 30)
                events.append((time.time(), m if isinstance(m, bytes) else json.loads(m)))
                await asyncio.sleep(0.02)
                if isinstance(events[-1][1], dict) and events[-1][1]["type"] in ("interview_started", "error"):
                    break
            check("slow reader: the reply completes (interview_started)",
                  events[-1][1].get("type") == "interview_started", types(events)[-3:])
            check_audio("slow reader", events, mock)
    long_reply = " ".join(["This is a fairly long sentence that the interviewer says out loud."] * 12)
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(reply=long_reply, tts_chunk_bytes=4000)
        with server_for(mock, TX_BUFFER_SIZE="16k", AUDIO_CHUNK_BYTES="8k") as srv:
            asyncio.run(go(srv, mock))


# ---- seed 000 ------------------------------------------------------------------

async def seed000_flow(srv, mock):
    async with websockets.connect(srv.url("/ws/legacy"), max_size=None) as ws:
        g = json.loads(await recv(ws))
        check("seed 000: greeting with status ready", g["type"] == "greeting" and g["status"] == "ready" and
              g["message"] == "Connected to AI Interview Backend")
        for turn in range(2):
            sent = []
            for i in range(3):
                pcm = [((i + 1) * 1000 + turn) * (-1) ** j for j in range(800)]
                sent += pcm
                b64 = base64.b64encode(struct.pack(f"<{len(pcm)}h", *pcm)).decode()
                await ws.send(json.dumps({"type": "audio_chunk", "data": b64, "isSpeaking": True}))
            await ws.send(json.dumps({"type": "audio_chunk", "data": "", "isSpeaking": False}))
            ev = await collect(ws, {"ai_response", "error"})
            t = [x for x in types(ev) if x != "amplitude"]
            check(f"seed 000 turn {turn + 1}: isSpeaking true->false -> user_transcript then ai_response",
                  t == ["user_transcript", "ai_response"], types(ev))
            resp = ev[-1][1]
            stt = mock.requests("transcriptions")[-1]
            check(f"seed 000 turn {turn + 1}: WAV holds the base64 PCM sent", stt["pcm_sha256"] == pcm_sha(sent))
            check(f"seed 000 turn {turn + 1}: transcript and reply text",
                  ev[0][1]["text"] == mock.config()["transcript"] and resp["text"].strip() == REPLY)
            audio = base64.b64decode(resp["audio"] or "")
            want = b"".join(synth_speech(r["input"], "mp3")[1] for r in mock.requests("speech")[-2:])
            frames = mp3_frames(audio)
            check(f"seed 000 turn {turn + 1}: ai_response.audio is the whole reply as MP3 (base64)",
                  frames is not None and len(audio) > 0 and audio.endswith(want[-192:]), len(audio))


async def many_openings_flow(srv, n):
    async def one(i):
        async with websockets.connect(srv.url(f"/ws/opening-{i}"), max_size=None) as ws:
            await recv(ws)  # greeting
            await ws.send(json.dumps({"type": "start_interview"}))
            ev = await collect(ws, {"interview_started", "error"}, timeout=60)
            return ev[-1][1].get("type")
    return await asyncio.gather(*(one(i) for i in range(n)))


def test_many_openings():
    """More interviews opening at once than mbedTLS's fixed PSA key store has
    slots (32): every TLS 1.3 handshake holds an ephemeral key, so without the
    dynamic key store the 33rd concurrent handshake failed with 'Memory
    allocation failed' (found by the 500-speaker memory bench)."""
    n = int(os.environ.get("OPENINGS", "300"))
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(reply=REPLY)
        with server_for(mock, UPSTREAM_CONNECT_TIMEOUT="10s", UPSTREAM_FIRST_BYTE_TIMEOUT="20s",
                        UPSTREAM_MAX_INFLIGHT="1024", AI_TURNS_PER_MINUTE="100000",
                        AI_TURNS_PER_MINUTE_PER_IP="100000", MAX_WEBSOCKETS_PER_IP="1000",
                        MAX_CONNECTIONS_PER_IP="1000") as srv:
            got = asyncio.run(many_openings_flow(srv, n))
            hs = mock.stats()["handshakes"]
            log = srv.log()
        check(f"{n} interviews opened at once: every one gets its opening question",
              got.count("interview_started") == n, {t: got.count(t) for t in set(got)})
        check(f"  ... over more than 32 concurrent upstream TLS handshakes ({hs})", hs > 32, hs)
        check("  ... and no TLS allocation failure in the server's log",
              "Memory allocation failed" not in log, "")


def test_seed000():
    with MockOpenAI(cert_dir=CERTS) as mock:
        mock.configure(reply=REPLY)
        with server_for(mock) as srv:
            asyncio.run(seed000_flow(srv, mock))


if __name__ == "__main__":
    run_tests([test_seed001, test_validation, test_no_key, test_history_window, test_faults, test_tls_faults,
              test_loop_responsive, test_slow_reader, test_seed000, test_many_openings])
