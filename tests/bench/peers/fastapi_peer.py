#!/usr/bin/env python3
"""Benchmark peer: the seed's stack (FastAPI + uvicorn, Debian packages), written the
way seed 001/002 describe the server: JSON over /ws/{client_id}, ping -> pong,
audio_chunk (int16 list) -> amplitude (RMS / 32768), and a turn that waits for each
whole upstream reply (Whisper, then chat, then TTS) before sending the audio.
Usage: fastapi_peer.py PORT   (env OPENAI_BASE_URL, OPENAI_API_KEY, MOCK_CA)"""
import json
import math
import os
import struct
import sys
from datetime import datetime, timezone

import httpx
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
BASE = os.environ.get("OPENAI_BASE_URL", "")
KEY = os.environ.get("OPENAI_API_KEY", "")
http = None


def ts():
    return datetime.now(timezone.utc).isoformat()


@app.on_event("startup")
async def startup():
    global http
    http = httpx.AsyncClient(verify=os.environ.get("MOCK_CA") or True, timeout=60)


def wav(samples):
    pcm = struct.pack("<%dh" % len(samples), *[s - 65536 if s > 32767 else s for s in samples])
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


async def process(ws, history, audio):
    hdr = {"Authorization": "Bearer " + KEY}
    await ws.send_json({"type": "thinking", "message": "Let me consider your response...", "timestamp": ts()})
    r = await http.post(BASE + "/audio/transcriptions", headers=hdr, data={"model": "whisper-1"},
                        files={"file": ("audio.wav", wav(audio), "audio/wav")})
    r.raise_for_status()
    text = r.json()["text"]
    history.append({"role": "user", "content": text})
    r = await http.post(BASE + "/chat/completions", headers=hdr,
                        json={"model": "gpt-4o-mini", "messages": history, "max_tokens": 150})
    r.raise_for_status()
    reply = r.json()["choices"][0]["message"]["content"]
    history.append({"role": "assistant", "content": reply})
    await ws.send_json({"type": "thinking_complete", "timestamp": ts()})
    r = await http.post(BASE + "/audio/speech", headers=hdr,
                        json={"model": "tts-1", "voice": "alloy", "input": reply, "response_format": "mp3"})
    r.raise_for_status()
    mp3 = r.content
    for i in range(0, len(mp3), 4096):
        await ws.send_json({"type": "ai_audio_chunk", "amplitude": 0.5, "timestamp": ts()})
        await ws.send_bytes(mp3[i:i + 4096])
    await ws.send_json({"type": "ai_response_complete", "text": reply, "timestamp": ts()})


@app.websocket("/ws/{client_id}")
async def ws_endpoint(websocket: WebSocket, client_id: str):
    await websocket.accept()
    audio_buffer = []
    history = [{"role": "system", "content": "You are an interviewer."}]
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "ping":
                await websocket.send_json({"type": "pong", "timestamp": ts()})
            elif kind == "audio_chunk":
                data = message["data"]
                audio_buffer.extend(data)
                rms = math.sqrt(sum(s * s for s in data) / len(data)) if data else 0.0
                await websocket.send_json({"type": "amplitude", "value": round(min(rms / 32768, 1.0), 4),
                                           "timestamp": ts()})
            elif kind == "send_for_AI_processing":
                try:
                    await process(websocket, history, audio_buffer)
                except Exception as e:
                    await websocket.send_json({"type": "error", "message": str(e), "code": "AI_RESPONSE_ERROR",
                                               "timestamp": ts()})
                audio_buffer = []
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
