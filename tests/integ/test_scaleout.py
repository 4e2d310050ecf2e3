"""Resumable interviews and more than one instance (README "Resuming an
interview", "Running more than one instance"), with the real engines:

- one instance, no Redis: a seed 001 client does two turns, drops, comes back
  with the same client_id: session_resumed with turns 2, and the third turn's
  chat request carries the first two in its history; a second live
  connection with the same id closes the first with 4000; a short id is not
  resumed; a reply in flight at SIGTERM finishes before the 1001 close.
- three instances behind Debian's haproxy (deploy/haproxy.cfg's /ws/ rules):
  two turns, SIGTERM to the instance that holds the interview, the client
  reconnects through HAProxy, lands on another instance and the third turn's
  request to the mock OpenAI carries the first two turns (needs REDIS_URL
  support in the binary and redis-server; skipped with a visible note when
  either is missing).
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

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
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
            asyncio.run(single_resume(srv, mock))
            asyncio.run(short_id(srv, mock))
        mock.configure(reply=REPLY, delays={"token_ms": 150})
        with server_for(mock, SHUTDOWN_TIMEOUT="15s") as srv:
            asyncio.run(reply_at_sigterm(srv, mock))


if __name__ == "__main__":
    test_single()
    finish()
