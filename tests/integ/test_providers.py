"""The provider matrix: the turn (seed 001 on /ws/), the seed 004 transcription
and the whole coach interview (seed 003, Socket.IO) against mock servers that
reproduce today's OpenAI models (gpt-5 refusing max_tokens and temperature,
gpt-4o-transcribe answering json without words or duration), Azure OpenAI's
api-key header and /openai/v1 prefix, and self-hosted servers mixed one per
job (whisper-server for STT, Ollama or vLLM for chat, Kokoro for TTS), three
mocks on three ports. Also: the error body shapes those servers send each
become the client's error code with none of the upstream's text.
README "Providers" lists the same rows."""
import asyncio
import base64
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

import websockets

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI  # noqa: E402
from wsutil import Server, check, finish, measure  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="interview-ca-")
TRANSCRIPT = ("Um, I led the Kubernetes migration with the team, you know, and like basically "
              "we cut latency by 40 percent.")
REPLY = "Thanks for that. What trade-off did you make along the way?"
POSTING = ("Senior Platform Engineer. We are looking for an engineer with Kubernetes, Terraform and "
           "observability experience to lead reliability projects and improve latency.")
VAD_EVENTS = ('"type":"speech_started"', '"type":"speech_stopped"')


def wav(samples):
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


def recorder_webm():
    """webm/opus written to a pipe, as MediaRecorder does: no Duration element, unknown sizes."""
    r = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=3",
                        "-c:a", "libopus", "-b:a", "32k", "-f", "webm", "pipe:1"], capture_output=True, check=True)
    return r.stdout


def env_for(base, **more):
    """Server settings: base is the mock behind OPENAI_BASE_URL; more are extra settings."""
    env = {"OPENAI_API_KEY": base.api_key, "OPENAI_BASE_URL": base.base_url, "SSL_CERT_FILE": base.ca or "",
           "UPSTREAM_CONNECT_TIMEOUT": "2s", "UPSTREAM_FIRST_BYTE_TIMEOUT": "5s", "UPSTREAM_MAX_RETRIES": "1"}
    env.update({k: str(v) for k, v in more.items()})
    if not env["SSL_CERT_FILE"]:
        del env["SSL_CERT_FILE"]
    return env


# ---- the three flows ---------------------------------------------------------------

async def ws_recv(ws, timeout=20):
    while True:
        m = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(m, bytes) or not any(v in m for v in VAD_EVENTS):
            return m


async def until(ws, types, timeout=20):
    out = []
    while True:
        m = await ws_recv(ws, timeout)
        ev = {"type": "<binary>"} if isinstance(m, bytes) else json.loads(m)
        out.append(ev)
        if ev.get("type") in types:
            return out


async def turn_flow(srv):
    """Opening line and one answer on /ws/ (seed 001): (opening event, answer events)."""
    async with websockets.connect(srv.url("/ws/providers"), max_size=None) as ws:
        await ws_recv(ws)
        await ws.send(json.dumps({"type": "start_interview"}))
        opening = await until(ws, {"interview_started", "error"})
        await ws.send(json.dumps({"type": "audio_chunk", "data": [(i * 37) % 65536 for i in range(4096)]}))
        await ws_recv(ws)
        await ws.send(json.dumps({"type": "send_for_AI_processing"}))
        answer = await until(ws, {"ai_response_complete", "error"}, 30)
        return opening, answer


async def stream_flow(srv):
    """Seed 004: one transcription_request; the answer."""
    async with websockets.connect(srv.url("/api/stream/ws/prov")) as ws:
        json.loads(await ws.recv())
        samples = [(i * 13) % 2000 - 1000 for i in range(8000)]
        await ws.send(json.dumps({"type": "transcription_request", "data": base64.b64encode(wav(samples)).decode()}))
        return json.loads(await asyncio.wait_for(ws.recv(), 30))


def sio_event(m):
    """(name, args, attachments) of a Socket.IO EVENT/BINARY_EVENT text packet, else None."""
    if not m.startswith("42") and not m.startswith("45"):
        return None
    body, att = m[2:], 0
    if m[1] == "5":
        n, _, body = body.partition("-")
        att = int(n)
    body = body[re.match(r"\d*", body).end():]  # an ack id
    arr = json.loads(body)
    return arr[0], arr[1:], att


async def coach_flow(srv, webm, answers=8):
    """The seed 003 interview over Engine.IO/Socket.IO on a WebSocket: start_interview, one
    submit_answer (binary webm) per question_audio, complete_interview. Returns
    (analyses, report, errors)."""
    analyses, errors, report = [], [], None
    async with websockets.connect(srv.url("/socket.io/?EIO=4&transport=websocket"), max_size=None) as ws:
        assert (await ws.recv()).startswith("0")
        await ws.send("40")
        assert (await ws.recv()).startswith("40")
        await ws.send("42" + json.dumps(["start_interview", {"jobDescription": POSTING, "resume": "Go, K8s"}]))
        deadline = time.time() + 120
        while report is None and time.time() < deadline:
            m = await asyncio.wait_for(ws.recv(), 60)
            if m == "2":
                await ws.send("3")
                continue
            ev = sio_event(m) if isinstance(m, str) else None
            if not ev:
                continue
            name, args, att = ev
            for _ in range(att):
                await ws.recv()
            if name == "question_audio" and len(analyses) < answers:
                qid = args[0]["questionId"]
                await ws.send("451-" + json.dumps(["submit_answer", {"questionId": qid,
                                                                     "audioBlob": {"_placeholder": True, "num": 0}}]))
                await ws.send(webm)
            elif name == "answer_analyzed":
                analyses.append(args[0])
                if len(analyses) == answers:
                    await ws.send("42" + json.dumps(["complete_interview"]))
            elif name == "interview_complete":
                report = args[0]
            elif name == "error":
                errors.append(args[0])
                if len(errors) > 3:
                    break
    return analyses, report, errors


def run(coro):
    return asyncio.run(coro)


def all_three(label, srv, stt_mock, webm, coach=True):
    """Turn, seed 004 transcription and the coach against srv; the basic checks. Returns the coach's analyses."""
    t0 = time.time()
    opening, answer = run(turn_flow(srv))
    check(f"{label}: turn: opening line and spoken reply", opening[-1].get("type") == "interview_started" and
          answer[-1].get("type") == "ai_response_complete" and any(e["type"] == "<binary>" for e in answer),
          [e.get("type") for e in opening + answer][-8:] + [e for e in opening + answer if e.get("type") == "error"])
    check(f"{label}: turn: the reply is the model's text", answer[-1].get("text", "").strip() == REPLY,
          answer[-1])
    m = run(stream_flow(srv))
    check(f"{label}: seed 004 transcription_result", m.get("type") == "transcription_result" and
          m.get("transcript") == stt_mock.config()["transcript"], m)
    analyses = []
    if coach:
        analyses, report, errors = run(coach_flow(srv, webm))
        check(f"{label}: coach: 8 answers analysed and the report, no error", len(analyses) == 8 and
              report is not None and not errors, (len(analyses), errors[:2]))
        a = analyses[0] if analyses else {}
        check(f"{label}: coach: words and fillers counted (20 words, 4 fillers)",
              a.get("wordCount") == 20 and a.get("fillerWords") == 4, a)
    measure(f"providers_{label.replace(' ', '_')}_ms", int((time.time() - t0) * 1000))
    all_three.answer = answer
    return analyses, srv.log()


# ---- the matrix -----------------------------------------------------------------------

def test_openai_current(webm):
    """gpt-4o-transcribe, gpt-5-mini, gpt-4o-mini-tts on a server that applies today's rules. The
    base URL is not api.openai.com, so auto sends max_tokens: the safety net learns the rename."""
    with MockOpenAI(cert_dir=CERTS, profile="openai-current") as m:
        m.configure(transcript=TRANSCRIPT, reply=REPLY)
        env = env_for(m, OPENAI_STT_MODEL="gpt-4o-transcribe", OPENAI_CHAT_MODEL="gpt-5-mini",
                      OPENAI_TTS_MODEL="gpt-4o-mini-tts", OPENAI_REASONING_EFFORT="minimal",
                      OPENAI_TTS_INSTRUCTIONS="a warm, professional interviewer", OPENAI_TTS_SPEED="1.25")
        with Server(**env) as srv:
            analyses, log = all_three("openai-current", srv, m, webm)
            answer = all_three.answer
        chat = m.requests("chat")
        refused = [r for r in chat if r["status"] == 400]
        check("openai-current: max_tokens refused once, then max_completion_tokens for every request",
              len(refused) == 1 and "max_tokens" in refused[0]["params"], [(r["status"], r["params"]) for r in chat[:3]])
        ok = [r for r in chat if r["status"] == 200]
        check("openai-current: no temperature, reasoning_effort minimal, max_completion_tokens",
              ok and all("temperature" not in r["params"] and "max_tokens" not in r["params"] and
                         r["reasoning_effort"] == "minimal" and r["max_completion_tokens"] for r in ok),
              [r["params"] for r in ok[:2]])
        check("openai-current: the refusal logged once for the model",
              log.count("ai_param_refused") == 1 and "gpt-5-mini" in log, log.count("ai_param_refused"))
        stt = m.requests("transcriptions")
        check("openai-current: transcriptions ask json (no verbose_json, no timestamp_granularities)",
              stt and all(r["status"] == 200 and "response_format" not in r["fields"] and
                          "timestamp_granularities[]" not in r["fields"] for r in stt),
              [r.get("fields") for r in stt[:2]])
        a = analyses[0] if analyses else {}
        check("openai-current: coach pace from the recording (no words, no duration): durationSource audio, "
              "timeSpent 3 s", a.get("durationSource") == "audio" and a.get("timeSpent") == 3 and
              a.get("wordsPerMinute") == 400, a)
        turn_stt = [r for r in stt if r["fields"].get("stream") == "true"]
        check("openai-current: the turn's transcription streamed (stream=true); seed 004's and the coach's not",
              len(turn_stt) == 1 and len(stt) == 2 + 8, (len(turn_stt), len(stt)))
        parts = [e for e in answer if e.get("type") == "user_transcript_partial"]
        final = next((e for e in answer if e.get("type") == "user_transcript"), {})
        check("openai-current: streamed text forwarded as user_transcript_partial before user_transcript, growing",
              len(parts) >= 3 and answer.index(parts[-1]) < answer.index(final) and
              parts[-1]["text"].strip() == TRANSCRIPT and len(parts[0]["text"]) < len(parts[-1]["text"]) and
              final.get("text", final.get("transcript", "")).strip() == TRANSCRIPT,
              [(e.get("type"), e.get("text")) for e in answer[:6]])
        tts = m.requests("speech")
        check("openai-current: gpt-4o-mini-tts gets instructions and speed",
              tts and all(r["instructions"] == "a warm, professional interviewer" and r["speed"] == 1.25
                          for r in tts), [(r.get("instructions"), r.get("speed")) for r in tts[:2]])


def test_safety_net(webm):
    """Parameters the server refuses that we could not know: temperature on a model the rules
    treat as a reasoning model, verbose_json on gpt-4o-transcribe forced by the setting, and
    instructions on tts-1. Each is retried once without it and not sent again."""
    with MockOpenAI(cert_dir=CERTS, profile="openai-current") as m:
        m.configure(transcript=TRANSCRIPT, reply=REPLY, reasoning_models=["acme-reasoner"],
                    no_instructions_models=["acme-tts"])
        env = env_for(m, OPENAI_STT_MODEL="gpt-4o-transcribe", OPENAI_STT_RESPONSE_FORMAT="verbose_json",
                      OPENAI_CHAT_MODEL="acme-reasoner", OPENAI_TOKEN_LIMIT_PARAM="max_completion_tokens",
                      OPENAI_TTS_MODEL="acme-tts", OPENAI_TTS_INSTRUCTIONS="calm")
        with Server(**env) as srv:
            analyses, log = all_three("safety net", srv, m, webm)
        chat = m.requests("chat")
        check("safety net: temperature refused once (400), then left out",
              [r["status"] for r in chat].count(400) == 1 and
              all("temperature" not in r["params"] for r in chat if r["status"] == 200), [r["status"] for r in chat][:4])
        stt = m.requests("transcriptions")
        check("safety net: verbose_json refused once, then json", [r["status"] for r in stt].count(400) == 1 and
              all("response_format" not in r["fields"] for r in stt if r["status"] == 200),
              [r["status"] for r in stt][:4])
        tts = m.requests("speech")
        check("safety net: instructions refused once, then left out", [r["status"] for r in tts].count(400) == 1,
              [r["status"] for r in tts][:4])
        check("safety net: three refusals logged, one per model and parameter", log.count("ai_param_refused") == 3,
              re.findall(r"ai_param_refused.*", log))
        check("safety net: the upstream's error text never reached a client", "(mock)" not in json.dumps(analyses))


def test_azure(webm):
    with MockOpenAI(cert_dir=CERTS, profile="azure") as m:
        m.configure(transcript=TRANSCRIPT, reply=REPLY)
        check("azure: the mock serves /openai/v1", m.base_url.endswith("/openai/v1"), m.base_url)
        env = env_for(m, OPENAI_API_KEY_HEADER="api-key", OPENAI_ORG_ID="org-test123", OPENAI_PROJECT_ID="proj_abc")
        with Server(**env) as srv:
            all_three("azure", srv, m, webm)
        reqs = m.requests()
        check("azure: every request carried the key in api-key, none as Bearer",
              reqs and all(r["auth"] == "ok" and r["api_key_header"] == "ok" for r in reqs),
              {(r["auth"], r["api_key_header"]) for r in reqs})
        check("azure: OpenAI-Organization and OpenAI-Project sent",
              all(r["headers"].get("OpenAI-Organization") == "org-test123" and
                  r["headers"].get("OpenAI-Project") == "proj_abc" for r in reqs))
        with Server(**env_for(m)) as srv:  # the same server with a Bearer key: refused, a fixed message
            opening, _ = run(turn_flow(srv))
        err = next((e for e in opening if e.get("type") == "error"), {})
        check("azure: a Bearer key is refused (401) -> error, the API's text not passed on",
              err and "(mock)" not in json.dumps(err) and "key" in err.get("message", ""), err)


def test_mixed(webm, stt_profile, chat_profile, tts_profile, label, **more):
    """Three mocks on three ports, one per job; the STT one is also OPENAI_BASE_URL."""
    with MockOpenAI(cert_dir=CERTS, profile=stt_profile) as stt, \
            MockOpenAI(cert_dir=CERTS, profile=chat_profile, https=False, api_key="sk-chat-key-000111") as chat, \
            MockOpenAI(cert_dir=CERTS, profile=tts_profile, api_key="sk-tts-key-000222") as tts:
        stt.configure(transcript=TRANSCRIPT)
        chat.configure(reply=REPLY)
        env = env_for(stt, OPENAI_CHAT_BASE_URL=chat.base_url, OPENAI_CHAT_API_KEY=chat.api_key,
                      OPENAI_TTS_BASE_URL=tts.base_url, OPENAI_TTS_API_KEY=tts.api_key, **more)
        with Server(**env) as srv:
            analyses, _ = all_three(label, srv, stt, webm)
        check(f"{label}: each mock saw only its own job",
              {r["endpoint"] for r in stt.requests()} == {"transcriptions"} and
              {r["endpoint"] for r in chat.requests()} == {"chat"} and
              {r["endpoint"] for r in tts.requests()} == {"speech"},
              [{r["endpoint"] for r in x.requests()} for x in (stt, chat, tts)])
        check(f"{label}: each with its own key", all(r["auth"] == "ok" for x in (stt, chat, tts)
                                                     for r in x.requests()))
        return analyses, stt, chat, tts


def test_error_shapes():
    """Each shape of error body -> the client's error code; the upstream text never leaves the server."""
    rows = [("openai-current", "chat", "400", "AI_RESPONSE_ERROR"), ("ollama", "chat", "400", "AI_RESPONSE_ERROR"),
            ("vllm", "chat", "400", "AI_RESPONSE_ERROR"), ("whisper-server", "transcriptions", "400",
                                                           "TRANSCRIPTION_ERROR"),
            ("openai", "chat", "html_502", "AI_RESPONSE_ERROR"), ("openai", "transcriptions", "text_503",
                                                                  "TRANSCRIPTION_ERROR")]
    for profile, ep, fault, code in rows:
        with MockOpenAI(cert_dir=CERTS, profile=profile) as m:
            m.configure(reply=REPLY, faults={ep: [fault] * 3})
            env = env_for(m)
            with Server(**env) as srv:
                async def one():
                    async with websockets.connect(srv.url("/ws/shapes"), max_size=None) as ws:
                        await ws_recv(ws)
                        if ep == "chat":
                            await ws.send(json.dumps({"type": "start_interview"}))
                            return await until(ws, {"interview_started", "error"}, 30)
                        await ws.send(json.dumps({"type": "audio_chunk", "data": [500] * 4096}))
                        await ws_recv(ws)
                        await ws.send(json.dumps({"type": "send_for_AI_processing"}))
                        return await until(ws, {"ai_response_complete", "error"}, 30)
                ev = run(one())
                log = srv.log()
            err = next((e for e in ev if e.get("type") == "error"), {})
            check(f"error shape {profile} {ep} {fault} -> {code}, no upstream text",
                  err.get("code") == code and "(mock)" not in json.dumps(err) and "nginx" not in json.dumps(err),
                  err)
            check(f"error shape {profile} {fault}: the log has the x-request-id or the status",
                  "request_id=" in log, log[-300:])


def main():
    webm = recorder_webm()
    test_openai_current(webm)
    test_safety_net(webm)
    test_azure(webm)
    test_mixed(webm, "whisper-server", "ollama", "kokoro", "mixed whisper+ollama+kokoro",
               OPENAI_STT_MODEL="Systran/faster-whisper-small", OPENAI_CHAT_MODEL="llama3.2",
               OPENAI_TTS_MODEL="kokoro", OPENAI_TTS_VOICE="af_heart")
    test_mixed(webm, "openai-current", "vllm", "openai-current", "mixed openai+vllm",
               OPENAI_STT_MODEL="gpt-4o-mini-transcribe", OPENAI_CHAT_MODEL="Qwen/Qwen2.5-7B-Instruct",
               OPENAI_TTS_MODEL="gpt-4o-mini-tts")
    test_error_shapes()
    finish()


if __name__ == "__main__":
    main()
