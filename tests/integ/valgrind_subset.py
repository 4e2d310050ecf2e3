"""A representative subset of the integration tests, run by build.sh against
build/interview-debug (glibc, -g, no sanitizer) under valgrind memcheck: the
binary is a wrapper that starts valgrind with --log-file per process, and
build.sh requires every log to be empty (0 errors, 0 definite/indirect leaks).
Chosen to cover every subsystem within the time budget (valgrind is ~20-50x
slower): HTTP and handshake rules, WebSocket framing and protocol errors,
graceful shutdown, both interview dialects end to end over TLS, the upstream
fault rows, the stream API, and client disconnects in every phase of a turn."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import test_core  # noqa: E402
import test_matrix  # noqa: E402
import test_stream  # noqa: E402
import test_turn  # noqa: E402
from wsutil import run_tests  # noqa: E402

SUBSET = [test_core.test_http, test_core.test_handshake_rules, test_core.test_websocket,
          test_core.test_protocol_errors, test_core.test_shutdown,
          test_turn.test_seed001, test_turn.test_seed000, test_turn.test_tls_faults,
          test_matrix.test_disconnect_phases, test_matrix.test_malformed, test_matrix.test_upstream_faults]
SUBSET += [getattr(test_stream, n) for n in sorted(dir(test_stream)) if n.startswith("test_")]

if __name__ == "__main__":
    run_tests(SUBSET, label=True)
