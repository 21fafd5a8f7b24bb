"""Operations: Prometheus metrics after real calls, and JSON logs that carry
the request id on every line of a request and never a secret."""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time

from vodsnap_helpers import SESSION, delete_raw, register, rid, signed


def _metric(text: str, name: str, **labels) -> float:
    """The value of one series, or 0 when it is absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_deletions_registrations_and_auth_failures(server):
    project = server.proj_a
    before = SESSION.get(server.base_url + "/metrics", timeout=10).text
    asset, t1 = rid("ma"), rid("mt")
    register(server, project, asset, t1)
    assert delete_raw(server, project, tasks=[t1, rid("missing")]).status_code == 200
    assert SESSION.get(server.base_url + f"/v1/{project}/asset/thumbnails", timeout=10).status_code == 401
    after = SESSION.get(server.base_url + "/metrics", timeout=10).text

    route = "/v1/{project_id}/asset/thumbnails"
    for name, labels, at_least in [
        ("vodsnap_registrations_total", {"outcome": "created"}, 1),
        ("vodsnap_deletions_total", {"status": "DELETED"}, 1),
        ("vodsnap_deletions_total", {"status": "FAILED"}, 1),
        ("vodsnap_auth_failures_total", {"reason": "no_credentials"}, 1),
        ("vodsnap_http_requests_total", {"route": route, "method": "DELETE", "status": "200"}, 1),
        ("vodsnap_http_request_duration_seconds_count", {"route": route, "method": "POST"}, 1),
    ]:
        grew = _metric(after, name, **labels) - _metric(before, name, **labels)
        assert grew >= at_least, f"{name}{labels} grew by {grew}"
    # Labels are route patterns, never raw paths with project ids.
    assert project not in after
    assert "# TYPE vodsnap_http_request_duration_seconds histogram" in after
    assert "vodsnap_cleanup_queue_depth" in after


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_json_logs_carry_the_request_id_and_no_secret(server, tmp_path):
    port = _free_port()
    sk = "sk" + secrets.token_hex(16)
    key = secrets.token_hex(24)
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODSNAP_") and k != "DATABASE_URL"}
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [server.bin, "serve", "--listen", f"127.0.0.1:{port}", "--log-format", "json",
             "--storage", "memory://", "--token-key", key, "--seed-credential", f"AKLOG:{sk}:plog"],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if SESSION.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except Exception:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.1)
        request_id = "log-test." + rid("r")
        r = SESSION.delete(base + "/v1/plog/asset/thumbnails?task_ids=x",
                           headers={"X-Auth-Token": "garbage", "X-Request-Id": request_id}, timeout=10)
        assert r.status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, "SIGTERM must end the server with exit code 0"
    lines = [l for l in log.read_text().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line is JSON
    mine = [r for r in records if request_id in json.dumps(r)]
    assert mine, "no log line carries the request id"
    assert any(r.get("reason") == "token_invalid" for r in mine), mine
    text = log.read_text()
    for secret in (sk, key):
        assert secret not in text
