#!/usr/bin/env python3
"""Test-only HTTPS job board for the job-posting fetch (issue 8). Python 3.11
stdlib + the openssl CLI; certificates from a throwaway CA made at test time
(the CA of tests/mock_openai.py's make_ca(), plus a leaf of our own).

Module use:   b = JobBoard(cert_dir=tmp).start()  # b.port, b.untrusted_port, b.ca, b.host; b.stop()
Script use:   python3 tests/jobboard.py --cert-dir D [--host 127.0.0.2]
              prints one JSON line {"host","port","untrusted_port","ca"}, serves until SIGTERM.

Certificates: `port` presents a leaf for DNS:jobs.test, board.test, rebind.test and IP:<host>,
signed by the CA; `untrusted_port` a self-signed certificate for the same names
(an untrusted issuer). Any other name (e.g. wrong.test) is a host-name mismatch.

Pages (GET):
  /posting        realistic job posting HTML: head, script, style, comments, entities
  /plain          text/plain posting
  /latin1         text/html; charset=iso-8859-1 ("Café" as one byte)
  /empty          HTML with nothing but script/style
  /until-close    HTML without Content-Length, ended by closing the connection
  /gzip           text/html with Content-Encoding: gzip (we asked for identity)
  /redirect?to=U&status=S   S (default 302) with Location: U (as given, may be relative)
  /no-location    302 without Location
  /chain/N        N > 0: 302 to /chain/N-1; N = 0: the posting
  /huge           2 MiB of HTML with Content-Length
  /huge-chunked   2 MiB of HTML, chunked, no Content-Length
  /slow           head at once, then one body byte every 0.5 s (for 30 s at most)
  /slow-head      nothing for 30 s
  /json, /pdf     application/json, application/pdf
  anything else   404
"""
import argparse
import gzip
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_openai import _openssl, make_ca  # noqa: E402

NAMES = ("jobs.test", "board.test", "rebind.test")

POSTING = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Senior Backend Engineer - Acme Corp Careers</title>
  <style>body { color: #333; font-family: sans-serif } .secret-style { display:none }</style>
  <script>var tracking = "do-not-include"; if (a < b && c > d) { document.write("</p>"); }</script>
</head>
<body>
<!-- build 1234: comment-not-in-text -->
<nav><a href="/">Home</a> &middot; <a href="/jobs">Jobs</a></nav>
<main>
<h1>Senior Backend Engineer</h1>
<p class="meta" data-x='a > b'>Acme&nbsp;Corp &mdash; Berlin &amp; Remote &#8226; Full&#8209;time</p>
<section>
<h2>About the role</h2>
<p>You will design   and
   operate our <b>payments</b> platform (R&amp;D team, caf&eacute; on site, &#x1F680; growth).</p>
<h2>Requirements</h2>
<ul>
  <li>5+ years with Go or C&#43;&#43;</li>
  <li>PostgreSQL &lt;3 and Kafka</li>
  <li>Kubernetes, AWS &amp; Terraform</li>
</ul>
<script type="application/ld+json">{"@type": "JobPosting", "title": "json-ld-not-in-text"}</script>
<table><tr><td>Salary</td><td>&euro;90k&ndash;110k</td></tr></table>
<noscript>Enable JavaScript noscript-not-in-text</noscript>
</section>
</main>
<footer>&copy; 2026 Acme Corp</footer>
</body>
</html>
"""

PLAIN = "Staff Data Engineer\n\nAcme Corp, Remote.\nRequirements:\n  - Python\n  - Spark\n"


def make_certs(cert_dir, host):
    """CA from mock_openai.make_ca(), then our leaf (signed) and a self-signed twin."""
    paths = make_ca(cert_dir)
    d = os.path.dirname(paths["ca"])
    san = ",".join(["DNS:" + n for n in NAMES] + ["IP:" + host])
    out = {"ca": paths["ca"], "good": (os.path.join(d, "jobs.pem"), os.path.join(d, "jobs.key")),
           "untrusted": (os.path.join(d, "jobs-self.pem"), os.path.join(d, "jobs-self.key"))}
    if all(os.path.exists(f) for f in (*out["good"], *out["untrusted"])):
        return out
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with open(os.path.join(d, "jobs.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl(d, "req", "-new", *key, "-keyout", "jobs.key", "-out", "jobs.csr", "-subj", "/CN=jobs.test")
    _openssl(d, "x509", "-req", "-in", "jobs.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", "0x" + os.urandom(8).hex(), "-days", "3", "-out", "jobs.pem", "-extfile", "jobs.ext")
    _openssl(d, "req", "-x509", *key, "-keyout", "jobs-self.key", "-out", "jobs-self.pem", "-days", "3",
             "-subj", "/CN=jobs.test", "-addext", "subjectAltName=" + san,
             "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth")
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, ctype, body, headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _stream(self, total, chunked):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(total))
        self.send_header("Connection", "close")
        self.end_headers()
        piece = (b"<p>" + b"filler text " * 1000 + b"</p>\n")
        sent = 0
        try:
            while sent < total:
                p = piece[:total - sent]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p) if chunked else p)
                sent += len(p)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        self.close_connection = True

    def _slow(self, head_first):
        try:
            if head_first:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "1000")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
            end = time.monotonic() + 30
            while time.monotonic() < end and not self.server.board.stopping.is_set():
                if head_first:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self):  # noqa: C901 - one flat routing table
        u = urlsplit(self.path)
        p, q = u.path, parse_qs(u.query)
        self.server.board.record(self.path)
        if p == "/posting":
            return self._send(200, "text/html; charset=utf-8", POSTING.encode())
        if p == "/plain":
            return self._send(200, "text/plain", PLAIN.encode())
        if p == "/latin1":
            return self._send(200, "text/html; charset=ISO-8859-1", "<p>Caf\u00e9 job</p>".encode("latin-1"))
        if p == "/until-close":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"<p>Framed by close: Site Reliability Engineer</p>")
            self.close_connection = True
            return
        if p == "/gzip":
            return self._send(200, "text/html", gzip.compress(POSTING.encode()), [("Content-Encoding", "gzip")])
        if p == "/empty":
            return self._send(200, "text/html", b"<html><script>x()</script><style>a{}</style></html>")
        if p == "/redirect":
            return self._send(int(q.get("status", ["302"])[0]), "text/html", b"moved",
                              [("Location", q.get("to", ["/posting"])[0])])
        if p == "/no-location":
            return self._send(302, "text/html", b"moved")
        if p.startswith("/chain/"):
            n = int(p.rsplit("/", 1)[1])
            if n > 0:
                return self._send(302, "text/html", b"moved", [("Location", f"/chain/{n - 1}")])
            return self._send(200, "text/html", POSTING.encode())
        if p == "/huge":
            return self._stream(2 << 20, False)
        if p == "/huge-chunked":
            return self._stream(2 << 20, True)
        if p == "/slow":
            return self._slow(True)
        if p == "/slow-head":
            return self._slow(False)
        if p == "/json":
            return self._send(200, "application/json", b'{"title": "Engineer"}')
        if p == "/pdf":
            return self._send(200, "application/pdf", b"%PDF-1.4\n")
        return self._send(404, "text/html", b"<h1>not found</h1>")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, board, ctx):
        self.board, self.ctx = board, ctx
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        super().__init__(addr, _Handler)

    def finish_request(self, request, client_address):
        request.settimeout(40)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return  # the client refused our certificate: expected in the bad-certificate tests
        try:
            _Handler(tls, client_address, self)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request, client_address):
        pass


class JobBoard:
    def __init__(self, cert_dir, host="127.0.0.2"):
        self.host = host
        self.certs = make_certs(cert_dir, host)
        self.ca = self.certs["ca"]
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.paths = []
        self._servers = []

    def record(self, path):
        with self._lock:
            self.paths.append(path)

    def _listen(self, which):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.certs[which])
        s = _Server((self.host, 0), self, ctx)
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._servers.append(s)
        return s.server_address[1]

    def start(self):
        self.port = self._listen("good")
        self.untrusted_port = self._listen("untrusted")
        return self

    def stop(self):
        self.stopping.set()
        for s in self._servers:
            s.shutdown()
            s.server_close()


def main():
    ap = argparse.ArgumentParser(description="test HTTPS job board")
    ap.add_argument("--host", default="127.0.0.2")
    ap.add_argument("--cert-dir", required=True)
    a = ap.parse_args()
    b = JobBoard(a.cert_dir, a.host).start()
    print(json.dumps({"host": b.host, "port": b.port, "untrusted_port": b.untrusted_port, "ca": b.ca}),
          flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    b.stop()


if __name__ == "__main__":
    main()
