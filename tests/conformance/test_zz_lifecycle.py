"""Runs last (file order): secrets never reach the logs; the server stops cleanly on SIGTERM."""

import os
import signal
import subprocess
import tempfile

from conftest import _start, _stop
from vodsnap_helpers import signed


def test_secrets_not_in_logs(server):
    # provoke a few failures that carry secrets in the request
    signed(server, "GET", f"/v1/{server.proj_a}/asset/thumbnails", sk=server.sk2)
    token = server.issue_token(server.proj_a)
    from vodsnap_helpers import with_token
    with_token(server, "GET", f"/v1/{server.proj_b}/asset/thumbnails", token)
    with_token(server, "GET", f"/v1/{server.proj_a}/asset/thumbnails", token[:-2])
    logs = server.logs()
    leaked = [name for name, secret in [("SK1", server.sk1), ("SK2", server.sk2), ("token key", server.token_key)]
              if secret in logs]
    leaked += [f"token #{i}" for i, t in enumerate(server.issued_tokens) if t and t in logs]
    assert not leaked, f"secrets in the server's stdout/stderr: {leaked} (logs in {server.log_dir})"


def test_sigterm_stops_cleanly(server):
    log_dir = tempfile.mkdtemp(prefix="vodsnap-conformance-sigterm-")
    srv = None
    for attempt in range(3):
        srv, last = _start(server.bin, log_dir, attempt)
        if srv is not None:
            break
    assert srv is not None, f"second instance did not start: {last.logs()[-2000:]}"
    srv.proc.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _stop(srv)
        raise AssertionError("vodsnap did not exit within 10 s of SIGTERM")
    assert code == 0, f"exit code {code} after SIGTERM: {srv.logs()[-2000:]}"
    assert os.path.exists(srv.stderr_path)
