"""What a FROM scratch container is: the static binary alone in an empty
directory, run with chroot. It must start, serve /health, answer its own
--healthcheck, and verify with the CA bundle compiled into it.

Then the container as Docker runs it: the root holds the binary plus only
what Docker injects (/etc/resolv.conf, /etc/hosts) and a mounted CA file, the
process runs as uid/gid 65534, resolves the API host "localhost" through the
chroot's /etc/hosts (musl's resolver, no NSS), reaches the mock OpenAI over
TLS trusting SSL_CERT_FILE (the throwaway CA; a real deployment needs no file:
the bundle compiled in verifies api.openai.com) and completes a turn."""
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from wsutil import BIN, check, finish, free_port, reply_events  # noqa: E402


def main():
    root = tempfile.mkdtemp(prefix="interview-scratch-")
    try:
        shutil.copy(BIN, os.path.join(root, "interview"))
        check("the chroot holds nothing but the binary", os.listdir(root) == ["interview"])
        r = subprocess.run(["chroot", root, "/interview", "--version"], capture_output=True, timeout=10)
        out = r.stdout.decode()
        m = re.search(r"(\d+) certificates", out)
        ncert = int(m.group(1)) if m else 0
        check("--version in an empty root reports the built-in CA bundle", r.returncode == 0 and ncert > 50, out)
        port = free_port()
        env = {"HOST": "127.0.0.1", "PORT": str(port), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        p = subprocess.Popen(["chroot", root, "/interview"], env=env, stderr=subprocess.DEVNULL)
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.05)
        check("static binary in an empty chroot serves /health", body and body.get("status") == "healthy", body)
        r = subprocess.run(["chroot", root, "/interview", "--healthcheck"], env=env, capture_output=True,
                           timeout=10)
        check("--healthcheck inside the chroot exits 0", r.returncode == 0, r.stderr)
        p.terminate()
        rc = p.wait(10)
        check("SIGTERM in the chroot exits 0", rc == 0, rc)
        r = subprocess.run(["chroot", root, "/interview", "--healthcheck"], env=env, capture_output=True,
                           timeout=10)
        check("--healthcheck exits non-zero when nothing listens", r.returncode != 0)
    finally:
        shutil.rmtree(root)
    container_turn()
    finish()


async def one_turn(port):
    import websockets
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/scratch", max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "audio_chunk", "data": [700, -700] * 4000}))
        await ws.recv()
        await ws.send('{"type":"send_for_AI_processing"}')
        return await reply_events(ws)


def container_turn():
    from mock_openai import MockOpenAI
    root = tempfile.mkdtemp(prefix="interview-container-")
    os.chmod(root, 0o755)
    try:
        shutil.copy(BIN, os.path.join(root, "interview"))
        os.makedirs(os.path.join(root, "etc"))
        for f in ("resolv.conf", "hosts"):
            shutil.copy(os.path.join("/etc", f), os.path.join(root, "etc", f))
        with MockOpenAI(cert_dir=tempfile.mkdtemp(prefix="interview-container-ca-")) as mock:
            shutil.copy(mock.ca, os.path.join(root, "ca.pem"))
            os.chmod(os.path.join(root, "ca.pem"), 0o644)
            files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
            check("container root: the binary, /etc/resolv.conf, /etc/hosts and the mounted CA file only",
                  files == ["ca.pem", "etc/hosts", "etc/resolv.conf", "interview"], files)
            port = free_port()
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOST": "127.0.0.1", "PORT": str(port),
                   "OPENAI_API_KEY": mock.api_key,
                   "OPENAI_BASE_URL": mock.base_url, "SSL_CERT_FILE": "/ca.pem"}
            check("the API host is a name the chroot must resolve", "localhost" in mock.base_url, mock.base_url)
            p = subprocess.Popen(["chroot", "--userspec=65534:65534", root, "/interview"], env=env,
                                 stderr=subprocess.PIPE)
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                        break
                except OSError:
                    time.sleep(0.05)
            uid = None
            with open(f"/proc/{p.pid}/status") as f:
                for ln in f:
                    if ln.startswith("Uid:"):
                        uid = ln.split()[1:3]
            check("the server runs as the unprivileged uid 65534", uid == ["65534", "65534"], uid)
            kinds, audio, last = asyncio.run(one_turn(port))
            check("in the container root as uid 65534: a turn completes over TLS to the mock "
                  "(name from /etc/hosts, CA from SSL_CERT_FILE)",
                  kinds[0] == "user_transcript" and last["type"] == "ai_response_complete" and audio > 0,
                  (kinds, last))
            check("... the mock saw the transcription, chat and speech requests",
                  {r["endpoint"] for r in mock.requests()} == {"transcriptions", "chat", "speech"})
            p.terminate()
            rc = p.wait(10)
            check("... SIGTERM exits 0", rc == 0, (rc, p.stderr.read()[-500:]))
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
