"""Debian's redis-server for the tests: loopback ports, files in a temp dir,
no persistence. With password: requirepass (and the password in tmp/pw, for
REDIS_PASSWORD_FILE). With tls: a TLS port too, its certificate from a
throwaway CA (tmp/ca.pem), for rediss:// against localhost or 127.0.0.1.
stop() kills it (an outage as clients see it); start() again reuses the ports."""
import os
import subprocess
import tempfile
import time

from wsutil import free_port


class Redis:
    def __init__(self, tmp=None, password=None, tls=False):
        self.tmp = tmp or tempfile.mkdtemp(prefix="interview-redis-")
        self.password, self.proc = password, None
        self.port, self.tls_port = free_port(), free_port() if tls else None
        conf = f"port {self.port}\nbind 127.0.0.1\ndir {self.tmp}\nsave \"\"\nappendonly no\n"
        if password:
            conf += f"requirepass {password}\n"
            with open(os.path.join(self.tmp, "pw"), "w") as f:
                f.write(password + "\n")
        if tls:
            self._make_certs()
            conf += (f"tls-port {self.tls_port}\ntls-cert-file {self.tmp}/server.pem\n"
                     f"tls-key-file {self.tmp}/server.key\ntls-ca-cert-file {self.tmp}/ca.pem\ntls-auth-clients no\n")
        with open(os.path.join(self.tmp, "redis.conf"), "w") as f:
            f.write(conf)

    def _make_certs(self):
        run = lambda *a: subprocess.run(a, cwd=self.tmp, check=True, capture_output=True)  # noqa: E731
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=test-redis-ca")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")
        with open(os.path.join(self.tmp, "ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext")

    def start(self):
        self.proc = subprocess.Popen(["redis-server", os.path.join(self.tmp, "redis.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.cli("PING") == "PONG":
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cli(self, *args):
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        r = subprocess.run(["redis-cli", "-p", str(self.port), *auth, *args], capture_output=True, text=True,
                           timeout=5)
        return r.stdout.strip()

    def url(self, db=0):
        return f"redis://{':' + self.password + '@' if self.password else ''}127.0.0.1:{self.port}/{db}"
