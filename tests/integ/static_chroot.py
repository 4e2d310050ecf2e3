"""What a FROM scratch container is: the static binary alone in an empty
directory, run with chroot. It must start, serve /health, answer its own
--healthcheck, and verify with the CA bundle compiled into it."""
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
from wsutil import BIN, check, finish, free_port  # noqa: E402


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
    finish()


if __name__ == "__main__":
    main()
