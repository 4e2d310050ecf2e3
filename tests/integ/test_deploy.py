"""Deployment proof: Debian's nginx and HAProxy on loopback terminate TLS with
a throwaway certificate (made at test time) and proxy to the binary; a wss://
client (python websockets, trusting only the throwaway CA) completes an
interview turn through each against the mock OpenAI. The proxy configurations
are tests/deploy/nginx.conf and tests/deploy/haproxy.cfg, which README.md
quotes verbatim (checked here, so the two cannot drift)."""
import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from mock_openai import MockOpenAI, make_ca  # noqa: E402
from wsutil import Server, check, finish, free_port, reply_events  # noqa: E402

CERTS = tempfile.mkdtemp(prefix="interview-deploy-ca-")


def render(name, **vals):
    with open(os.path.join(ROOT, "tests", "deploy", name)) as f:
        text = f.read()
    for k, v in vals.items():
        text = text.replace("{{" + k + "}}", str(v))
    assert "{{" not in text, text
    return text


def readme_quotes(name):
    with open(os.path.join(ROOT, "tests", "deploy", name)) as f:
        body = f.read().strip()
    with open(os.path.join(ROOT, "README.md")) as f:
        return body in f.read()


def wait_tls(port, ctx, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"https://localhost:{port}/health", context=ctx, timeout=2) as r:
                return r.status, json.loads(r.read())
        except OSError:
            time.sleep(0.1)
    return None, None


async def refused_status(port, ctx, origin):
    try:
        async with websockets.connect(f"wss://localhost:{port}/ws/foreign", ssl=ctx, origin=origin):
            return 101
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def turn_through(port, ctx):
    # Sent as a browser on the proxy's own origin would: the Origin rule compares
    # it with the Host the proxy passes on, so this fails if the port is dropped.
    async with websockets.connect(f"wss://localhost:{port}/ws/deployed", ssl=ctx, max_size=None,
                                  origin=f"https://localhost:{port}") as ws:
        greet = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "audio_chunk", "data": [1200, -1200] * 4000}))
        await ws.recv()
        await ws.send('{"type":"send_for_AI_processing"}')
        return (greet["type"], *await reply_events(ws))


def run_proxy(name, argv, port, ctx, srv, mock):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        st, body = wait_tls(port, ctx)
        check(f"{name}: GET https://localhost/health through the proxy -> 200 healthy",
              st == 200 and body.get("status") == "healthy", (st, body, proc.poll()))
        greet, kinds, audio, last = asyncio.run(turn_through(port, ctx))
        check(f"{name}: a wss:// client completes an interview turn through the proxy "
              f"(greeting, user_transcript ... ai_response_complete, audio relayed)",
              greet == "greeting" and kinds[0] == "user_transcript" and last["type"] == "ai_response_complete"
              and last["text"].strip() == mock.config()["reply"] and audio > 0, (kinds, audio))
        st = asyncio.run(refused_status(port, ctx, "https://evil.example"))
        check(f"{name}: a cross-site Origin is refused through the proxy -> 403", st == 403, st)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        err = proc.stderr.read().decode("utf-8", "replace")
        if "emerg" in err or "ALERT" in err:
            print(err[-2000:])


def main():
    paths = make_ca(CERTS)
    ctx = ssl.create_default_context(cafile=paths["ca"])  # trusts the throwaway CA only
    tmp = tempfile.mkdtemp(prefix="interview-deploy-")
    os.chmod(tmp, 0o755)
    with MockOpenAI(cert_dir=CERTS) as mock:
        with Server(OPENAI_API_KEY=mock.api_key, OPENAI_BASE_URL=mock.base_url, SSL_CERT_FILE=mock.ca,
                    TRUSTED_PROXIES="127.0.0.1") as srv:
            backend = f"127.0.0.1:{srv.port}"
            if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
                port = free_port()
                conf = os.path.join(tmp, "nginx.conf")
                with open(conf, "w") as f:
                    f.write(render("nginx.conf", BACKEND=backend, LISTEN=f"127.0.0.1:{port}",
                                   CERT=paths["good"][0], KEY=paths["good"][1]))
                run_proxy("nginx", ["/usr/sbin/nginx", "-p", tmp, "-c", conf, "-g",
                                    f"daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log;"],
                          port, ctx, srv, mock)
            else:
                check("nginx is installed (build.sh test_tools installs nginx-light)", False)
            if os.path.exists("/usr/sbin/haproxy"):
                port = free_port()
                crt = os.path.join(tmp, "haproxy.pem")
                with open(crt, "w") as f:
                    f.write(open(paths["good"][0]).read() + open(paths["good"][1]).read())
                conf = os.path.join(tmp, "haproxy.cfg")
                with open(conf, "w") as f:
                    f.write(render("haproxy.cfg", BACKEND=backend, LISTEN=f"127.0.0.1:{port}", CRT=crt))
                run_proxy("HAProxy", ["/usr/sbin/haproxy", "-db", "-f", conf], port, ctx, srv, mock)
            else:
                check("haproxy is installed (build.sh test_tools installs haproxy)", False)
    check("README.md quotes tests/deploy/nginx.conf verbatim", readme_quotes("nginx.conf"))
    check("README.md quotes tests/deploy/haproxy.cfg verbatim", readme_quotes("haproxy.cfg"))
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
