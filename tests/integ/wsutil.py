"""Shared helpers for the integration tests: start the built server on a free
loopback port, a raw RFC 6455 client for malformed input (the well-formed
paths use the independent `websockets` library), and the result tally that
build.sh reads ("N passed, N failed")."""
import asyncio
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
import urllib.request

BIN = os.environ.get("INTERVIEW_BIN", "build/interview")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

_passed = 0
_failed = 0


def check(name, cond, detail=""):
    global _passed, _failed
    if cond:
        _passed += 1
        print(f"ok   {name}", flush=True)
    else:
        _failed += 1
        print(f"FAIL {name} {detail}", flush=True)
    return cond


def measure(name, value):
    print(f"measure {name}={value}", flush=True)


def finish():
    print(f"{os.path.basename(sys.argv[0])}: {_passed} passed, {_failed} failed", flush=True)
    sys.exit(1 if _failed else 0)


def run_tests(tests, timed=False, label=False):
    """Runs each test function (only those named on the command line, if
    any), a crashed one counted as a failure, then prints the summary and
    exits. timed: a "time" line after each; label: a "==" line before."""
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        if label:
            print(f"== {t.__module__}.{t.__name__}", flush=True)
        t0 = time.time()
        try:
            t()
        except Exception as e:  # a crashed test is a failed test
            traceback.print_exc()
            check(f"{t.__name__} ran to completion", False, repr(e))
        if timed:
            print(f"time {t.__name__} {time.time() - t0:.1f}s", flush=True)
    finish()


async def reply_events(ws, timeout=20):
    """Reads one reply up to ai_response_complete or error: (the JSON event
    types in order, bytes of binary audio, the last event)."""
    kinds, audio = [], 0
    while True:
        m = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(m, bytes):
            audio += len(m)
            continue
        m = json.loads(m)
        kinds.append(m["type"])
        if m["type"] in ("ai_response_complete", "error"):
            return kinds, audio, m


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The binary under test, started with env overrides; stderr is kept."""

    def __init__(self, **env):
        self.port = free_port()
        self.env = {"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.env.update({k: str(v) for k, v in env.items()})
        self.errpath = f"/tmp/interview-test-{self.port}.log"
        self.proc = None

    def __enter__(self):
        self.err = open(self.errpath, "w+b")
        self.proc = subprocess.Popen([BIN], env=self.env, stderr=self.err, stdout=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.log())

    def log(self):
        self.err.flush()
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def settled_fds(self, quiet=0.5, limit=5.0):
        """The descriptor count once it has not changed for `quiet` seconds (a
        readiness probe's socket may still be closing; under valgrind slowly)."""
        end, last, since = time.time() + limit, self.fds(), time.time()
        while time.time() < end:
            time.sleep(0.1)
            n = self.fds()
            if n != last:
                last, since = n, time.time()
            elif time.time() - since >= quiet:
                break
        return last

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __exit__(self, *exc):
        code = self.stop()
        self.exit_code = code
        # An ASan/UBSan report means the build under test misbehaved.
        log = self.log()
        self.err.close()
        if "ERROR: AddressSanitizer" in log or "runtime error:" in log or "LeakSanitizer" in log:
            check("no sanitizer report in server log", False, log[-3000:])
        os.unlink(self.errpath)
        return False

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def http(self, path, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()


def raw_http(port, data, timeout=5.0, read_all=True):
    """Send bytes, return everything the server sent until it closed (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if not read_all and b"\r\n\r\n" in out:
                break
        return out
    finally:
        s.close()


def status_of(resp):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    return int(m.group(1)) if m else None


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(path, key=WS_KEY, version="13", extra=""):
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\n{extra}\r\n").encode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length_override=None):
    """A client frame, masked unless told otherwise."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length_override is None else length_override
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWS:
    """A deliberately minimal client used only to send what real clients never would."""

    def __init__(self, port, path="/api/stream/ws/raw", timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(upgrade_request(path))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = status_of(head + b"\r\n")
        if self.status == 101:
            self.hello = self.recv_frame()  # the server speaks first on every WebSocket path

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def recv_frame(self):
        """(opcode, payload) of the next server frame; server frames are never masked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise ValueError("server frame is masked")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def recv_json(self):
        op, p = self.recv_frame()
        if op != 1:
            raise ValueError(f"expected text, got opcode {op}")
        return json.loads(p)

    def expect_close(self):
        """Read until a close frame; return its code (or None if the TCP just ended)."""
        try:
            while True:
                op, p = self.recv_frame()
                if op == 8:
                    return struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
        except (ConnectionError, OSError):
            return None

    def close(self):
        self.sock.close()
