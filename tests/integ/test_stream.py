"""Seed 004 stream API against the built binary, with an unchanged-style
client (Python `websockets`), the status/disconnect endpoints, CORS, the
embedded pages, and transcription through the mock OpenAI over TLS."""
import asyncio
import base64
import json
import os
import socket
import struct
import sys
import tempfile
import time

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import ISO_RE, Server, check, run_tests, raw_http, status_of  # noqa: E402


def wav(samples):
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def stamped(m, sid):
    return m.get("session_id") == sid and ISO_RE.match(m.get("timestamp", "")) is not None


async def flow(srv, mock):
    url = srv.url("/api/stream/ws/")
    async with websockets.connect(url + "alpha") as a, websockets.connect(url + "beta") as b:
        m = await recv_json(a)
        check("connection_established with session id and timestamp",
              m["type"] == "connection_established" and stamped(m, "alpha"), m)
        await recv_json(b)
        await a.send(json.dumps({"type": "ping", "session_id": "alpha", "timestamp": "x"}))
        m = await recv_json(a)
        check("ping -> pong with session id and timestamp", m["type"] == "pong" and stamped(m, "alpha"), m)
        await a.send(json.dumps({"type": "test", "data": {"n": [1, 2, "x"]}}))
        m = await recv_json(a)
        check("test -> test_response echoing data", m["type"] == "test_response" and m["data"] == {"n": [1, 2, "x"]}
              and stamped(m, "alpha"), m)
        await a.send(json.dumps({"type": "chat", "message": "hello everyone"}))
        ma, mb = await recv_json(a), await recv_json(b)
        check("chat -> chat_message to every session, the sender included",
              ma["type"] == mb["type"] == "chat_message" and ma["message"] == mb["message"] == "hello everyone"
              and ma["session_id"] == mb["session_id"] == "alpha", (ma, mb))
        raw = bytes(range(256)) * 10
        await a.send(json.dumps({"type": "audio", "data": base64.b64encode(raw).decode()}))
        m = await recv_json(a)
        check("audio -> audio_received after decoding (byte count)", m["type"] == "audio_received" and
              m["bytes"] == len(raw) and stamped(m, "alpha"), m)
        await a.send(json.dumps({"type": "video", "data": base64.b64encode(b"\x00" * 999).decode()}))
        m = await recv_json(a)
        check("video -> video_received", m["type"] == "video_received" and m["bytes"] == 999, m)
        await a.send(json.dumps({"type": "audio", "data": "not base64!!"}))
        m = await recv_json(a)
        check("invalid base64 -> error INVALID_DATA", m["type"] == "error" and m["code"] == "INVALID_DATA" and
              stamped(m, "alpha"), m)
        await a.send(json.dumps({"type": "nope"}))
        m = await recv_json(a)
        check("unknown type -> error with session id", m["type"] == "error" and m["code"] == "UNKNOWN_TYPE" and
              stamped(m, "alpha"), m)
        await a.send("{bad json")
        m = await recv_json(a)
        check("malformed JSON -> error with session id", m["type"] == "error" and stamped(m, "alpha"), m)
        samples = [(i * 13) % 2000 - 1000 for i in range(8000)]
        await a.send(json.dumps({"type": "transcription_request", "data": base64.b64encode(wav(samples)).decode()}))
        m = await recv_json(a, 15)
        check("transcription_request (WAV) -> transcription_result", m["type"] == "transcription_result" and
              m["transcript"] == mock.config()["transcript"] and stamped(m, "alpha"), m)
        rec = mock.requests("transcriptions")[-1]
        check("the WAV reached the API as audio.wav with its samples", rec["filename"] == "audio.wav" and
              rec["samples"] == 8000, rec.get("filename"))
        await a.send(json.dumps({"type": "transcription_request",
                                 "data": base64.b64encode(b"\x1aE\xdf\xa3" + b"\x00" * 100).decode()}))
        m = await recv_json(a, 15)
        check("webm bytes are sent as audio.webm", mock.requests("transcriptions")[-1]["filename"] == "audio.webm")
        await a.send(json.dumps({"type": "transcription_request",
                                 "data": base64.b64encode(b"plain text, not audio").decode()}))
        m = await recv_json(a)
        check("unrecognised audio -> transcription_error with the reason", m["type"] == "transcription_error" and
              "unrecognised" in m["error"], m)
        mock.configure(faults={"transcriptions": ["500", "500", "500"]})
        await a.send(json.dumps({"type": "transcription_request", "data": base64.b64encode(wav([1] * 100)).decode()}))
        m = await recv_json(a, 20)
        check("upstream failure -> transcription_error", m["type"] == "transcription_error", m)
        async with websockets.connect(url + "gamma") as g:
            await recv_json(g)
            await g.send(json.dumps({"type": "audio", "data": base64.b64encode(wav([7] * 1600)).decode()}))
            await recv_json(g)
            await g.send(json.dumps({"type": "transcription_request"}))
            m = await recv_json(g, 15)
        check("transcription_request without data transcribes the audio kept from audio messages",
              m["type"] == "transcription_result" and mock.requests("transcriptions")[-1]["samples"] == 1600, m)

        st, _, body = srv.http("/api/stream/status/alpha")
        d = json.loads(body)
        check("GET status: connected, since when, message counts",
              st == 200 and d["connected"] is True and ISO_RE.match(d["connected_at"]) and
              d["messages_received"] >= 10 and d["messages_sent"] >= 10, d)
        st, _, body = srv.http("/api/stream/status/nobody")
        check("status of an unknown id -> 404 JSON", st == 404 and json.loads(body)["status"] == 404)

        # a second connection with the same id replaces the first
        async with websockets.connect(url + "beta") as b2:
            await recv_json(b2)
            try:
                await asyncio.wait_for(b.recv(), 3)
            except websockets.ConnectionClosed:
                pass
            check("same session id again: the old connection is closed with 4000", b.close_code == 4000,
                  b.close_code)
            st, _, body = srv.http("/api/stream/disconnect/beta", "DELETE")
            check("DELETE disconnect -> JSON", st == 200 and json.loads(body)["status"] == "disconnected", body)
            try:
                await asyncio.wait_for(b2.recv(), 3)
            except websockets.ConnectionClosed:
                pass
            check("DELETE disconnect closes the socket with 1000", b2.close_code == 1000, b2.close_code)
        st, _, _ = srv.http("/api/stream/disconnect/beta", "DELETE")
        check("DELETE disconnect of an unknown id -> 404", st == 404)


def test_stream():
    with MockOpenAI(cert_dir=tempfile.mkdtemp(prefix="ca-")) as mock:
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca) as srv:
            asyncio.run(flow(srv, mock))


def test_slow_receiver():
    async def go(srv):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"GET /api/stream/ws/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        time.sleep(0.2)
        async with websockets.connect(srv.url("/api/stream/ws/fast")) as fast:
            await recv_json(fast)
            await fast.send(json.dumps({"type": "chat", "message": "x" * 9000}))
            m = await recv_json(fast)
            check("a chat message over half the send ring -> MESSAGE_TOO_LARGE",
                  m["type"] == "error" and m["code"] == "MESSAGE_TOO_LARGE", m)
            big = "x" * 7000
            t0 = time.time()
            for i in range(1200):
                await fast.send(json.dumps({"type": "chat", "message": big}))
                m = await recv_json(fast)
            check("a receiver that never reads does not delay the others",
                  m["type"] == "chat_message" and time.time() - t0 < 20)
            st, _, _ = srv.http("/api/stream/status/slow")
            check("the stuck receiver was closed (1013) instead of holding up broadcasts", st == 404, st)
            check("its closing is logged", "broadcast_receiver_too_slow" in srv.log())
        s.close()
    # 1200 chats as fast as possible: far above the per-connection rate limits (test_access.py)
    with Server(TX_BUFFER_SIZE="16k", WS_MESSAGES_PER_SEC=0, WS_BYTES_PER_SEC=0) as srv:
        asyncio.run(go(srv))


def test_http_pages_and_cors():
    with Server(ALLOWED_ORIGINS="http://localhost:3000,https://app.example") as srv:
        for path in ["/", "/interview", "/api/stream/test-page"]:
            st, hdrs, body = srv.http(path)
            check(f"GET {path} serves an HTML page", st == 200 and hdrs["Content-Type"].startswith("text/html") and
                  b"<!doctype html" in body.lower() and len(body) == int(hdrs["Content-Length"]))
            check(f"{path} loads nothing from elsewhere", b"http://" not in body.replace(b"http://localhost", b"")
                  and b"https://" not in body and "Content-Security-Policy" in hdrs, path)
        r = raw_http(srv.port, b"OPTIONS /api/stream/status/abc HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                     b"Access-Control-Request-Method: GET\r\n\r\n", read_all=False)
        check("OPTIONS pre-flight from an allowed origin -> 204 with CORS headers",
              status_of(r) == 204 and b"Access-Control-Allow-Origin: https://app.example" in r and
              b"Access-Control-Allow-Methods: GET" in r, r[:300])
        r = raw_http(srv.port, b"OPTIONS /api/stream/status/abc HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                     b"Access-Control-Request-Method: GET\r\n\r\n")
        check("pre-flight from another origin -> 403, no CORS headers",
              status_of(r) == 403 and b"Access-Control-Allow-Origin" not in r)
        r = raw_http(srv.port, b"GET /api/stream/status/abc HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:3000\r\n"
                     b"Connection: close\r\n\r\n")
        check("responses to an allowed origin carry Access-Control-Allow-Origin",
              b"Access-Control-Allow-Origin: http://localhost:3000" in r and status_of(r) == 404)
        r = raw_http(srv.port, b"POST /api/stream/status/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        check("wrong method on status -> 405", status_of(r) == 405)
        # a page is larger than the send ring can hold at once when the client is slow: all bytes arrive
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        check("a page then a pipelined request on one connection, both complete",
              data.count(b"HTTP/1.1 200 OK") == 2 and b'"healthy"' in data)


if __name__ == "__main__":
    run_tests([test_stream, test_slow_receiver, test_http_pages_and_cors])
