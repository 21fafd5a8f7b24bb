"""Starts the real vodsnap binary once per test session.

Environment:
  VODSNAP_BIN                        path of the binary (default /work/main/target/debug/vodsnap)
  VODSNAP_CONFORMANCE_STORE          memory (default) or postgres
  VODSNAP_CONFORMANCE_DATABASE_URL   PostgreSQL URL, required for postgres

Or, against a server started elsewhere (`cargo xtask image` runs a subset of
the suite against the container image this way; nothing is started here):
  VODSNAP_CONFORMANCE_URL            its base URL, e.g. http://127.0.0.1:49153
  VODSNAP_CONFORMANCE_SEED           its seeded credentials, as given to it:
                                     AK1:SK1:PROJ_A:PROJ_B,AK2:SK2:PROJ_C
The tests that need the binary itself (tokens, a second server, signals)
fail in that mode, saying so: choose the subset accordingly.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vodsnap_helpers import SESSION, Server, vod_client  # noqa: E402

DEFAULT_BIN = "/work/main/target/debug/vodsnap"
READY_DEADLINE_S = 30
STOP_GRACE_S = 10

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


def _bin_path() -> str:
    return os.environ.get("VODSNAP_BIN", DEFAULT_BIN)


def _external_url() -> str:
    return os.environ.get("VODSNAP_CONFORMANCE_URL", "").rstrip("/")


def pytest_configure(config):
    if _external_url():
        if not os.environ.get("VODSNAP_CONFORMANCE_SEED"):
            raise pytest.UsageError("VODSNAP_CONFORMANCE_URL needs VODSNAP_CONFORMANCE_SEED "
                                    "(AK1:SK1:PROJ_A:PROJ_B,AK2:SK2:PROJ_C)")
        return
    path = _bin_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise pytest.UsageError(
            f"vodsnap binary not found or not executable at {path!r}. Build it "
            f"(cd /work/main && cargo build -p vodsnap-app) or set VODSNAP_BIN."
        )
    store = os.environ.get("VODSNAP_CONFORMANCE_STORE", "memory")
    if store not in ("memory", "postgres"):
        raise pytest.UsageError(f"VODSNAP_CONFORMANCE_STORE must be memory or postgres, got {store!r}")
    if store == "postgres" and not os.environ.get("VODSNAP_CONFORMANCE_DATABASE_URL"):
        raise pytest.UsageError("VODSNAP_CONFORMANCE_STORE=postgres needs VODSNAP_CONFORMANCE_DATABASE_URL")


_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, alphabet: str = _ALNUM + "-_") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(bin_path: str, log_dir: str, attempt: int, links: bool = False):
    """Starts a server. `links`: no --public-base-url, so details carry signed
    links that this server serves from a file storage directory the tests
    write into (as a producer uploads to the storage), under a known --url-key."""
    port = _free_port()
    token_key = _rand(48, _ALNUM)
    ids = {
        "ak1": "AK1" + _rand(17, _ALNUM), "sk1": "SK1" + _rand(37),
        "ak2": "AK2" + _rand(17, _ALNUM), "sk2": "SK2" + _rand(37),
        "proj_a": "PA_" + _rand(20), "proj_b": "PB_" + _rand(20), "proj_c": "PC_" + _rand(20),
    }
    url_key = _rand(48, _ALNUM) if links else ""
    storage_dir = tempfile.mkdtemp(prefix="vodsnap-images-", dir=log_dir) if links else ""
    if links:
        where = ["--url-key", url_key, "--storage", "file://" + storage_dir]
    else:
        # Demo images would otherwise land in ./data/images.
        where = ["--public-base-url", "https://cdn.test/vod", "--storage", "memory://"]
    cmd = [
        bin_path, "serve",
        "--listen", f"127.0.0.1:{port}",
        "--token-key", token_key,
        *where,
        "--seed-credential", f"{ids['ak1']}:{ids['sk1']}:{ids['proj_a']}:{ids['proj_b']}",
        "--seed-credential", f"{ids['ak2']}:{ids['sk2']}:{ids['proj_c']}",
    ]
    if os.environ.get("VODSNAP_CONFORMANCE_STORE", "memory") == "postgres":
        # SKs are stored encrypted: a fresh key per run, as an operator would give.
        credential_key = "conf:" + base64.b64encode(secrets.token_bytes(32)).decode()
        cmd += ["--database-url", os.environ["VODSNAP_CONFORMANCE_DATABASE_URL"],
                "--credential-keys", credential_key]
    name = f"{'links' if links else 'server'}{attempt}"
    stdout_path = os.path.join(log_dir, f"{name}.stdout.log")
    stderr_path = os.path.join(log_dir, f"{name}.stderr.log")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VODSNAP_") and k not in ("DATABASE_URL",)}
    env.setdefault("RUST_BACKTRACE", "1")
    proc = subprocess.Popen(cmd, stdout=open(stdout_path, "wb"), stderr=open(stderr_path, "wb"),
                            stdin=subprocess.DEVNULL, env=env)
    server = Server(bin=bin_path, host=f"127.0.0.1:{port}", token_key=token_key, log_dir=log_dir,
                    proc=proc, stdout_path=stdout_path, stderr_path=stderr_path,
                    url_key=url_key, storage_dir=storage_dir, **ids)
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, server
        try:
            r = SESSION.get(server.base_url + "/healthz", timeout=2)
            if r.status_code == 200:
                return server, server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    _stop(server)
    pytest.fail(f"vodsnap did not answer GET /healthz 200 within {READY_DEADLINE_S}s; logs:\n"
                f"{server.logs()[-4000:]}", pytrace=False)


def _stop(server: Server):
    proc = server.proc
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _external() -> Server:
    """The server of VODSNAP_CONFORMANCE_URL, with the credentials it was seeded with."""
    url = _external_url()
    host = url.split("://", 1)[-1]
    seeds = [c.split(":") for c in os.environ["VODSNAP_CONFORMANCE_SEED"].split(",")]
    if len(seeds) != 2 or len(seeds[0]) != 4 or len(seeds[1]) != 3:
        raise pytest.UsageError("VODSNAP_CONFORMANCE_SEED must be AK1:SK1:PROJ_A:PROJ_B,AK2:SK2:PROJ_C")
    (ak1, sk1, proj_a, proj_b), (ak2, sk2, proj_c) = seeds
    log_dir = tempfile.mkdtemp(prefix="vodsnap-conformance-external-")
    return Server(bin="", host=host, token_key="", log_dir=log_dir, proc=None,
                  stdout_path=os.path.join(log_dir, "none"), stderr_path=os.path.join(log_dir, "none"),
                  ak1=ak1, sk1=sk1, proj_a=proj_a, proj_b=proj_b, ak2=ak2, sk2=sk2, proj_c=proj_c)


def _serve(links: bool):
    if _external_url():
        if links:
            pytest.fail("this test needs a second server of its own (linked_server): it cannot run "
                        "against VODSNAP_CONFORMANCE_URL", pytrace=False)
        yield _external()
        return
    bin_path = _bin_path()
    log_dir = tempfile.mkdtemp(prefix="vodsnap-conformance-")
    srv = None
    last = None
    for attempt in range(3):  # the free port may be taken between probe and bind
        srv, last = _start(bin_path, log_dir, attempt, links)
        if srv is not None:
            break
    if srv is None:
        pytest.fail(f"vodsnap exited before it was ready (exit {last.proc.returncode}); "
                    f"logs in {log_dir}:\n{last.logs()[-4000:]}", pytrace=False)
    yield srv
    _stop(srv)
    print(f"\nvodsnap logs: {log_dir}")


@pytest.fixture(scope="session")
def server():
    """The server most tests use: plain CDN links (--public-base-url)."""
    yield from _serve(links=False)


@pytest.fixture(scope="session")
def linked_server():
    """A server that serves its own signed snapshot links (issue 14)."""
    yield from _serve(links=True)


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        if srv.proc is None:  # a server started elsewhere: it must still answer
            if not srv.alive():
                pytest.fail(f"the server at {srv.base_url} stopped answering GET /healthz during this test",
                            pytrace=False)
        elif srv.proc.poll() is not None:
            pytest.fail(f"vodsnap died during this test (exit {srv.proc.returncode}):\n{srv.logs()[-4000:]}",
                        pytrace=False)


@pytest.fixture(scope="session")
def client_a(server):
    """SDK client, AK1 on PROJ_A."""
    return vod_client(server, server.ak1, server.sk1, server.proj_a)


@pytest.fixture(scope="session")
def client_b(server):
    """SDK client, AK1 on PROJ_B."""
    return vod_client(server, server.ak1, server.sk1, server.proj_b)


@pytest.fixture(scope="session")
def client_c(server):
    """SDK client, AK2 on PROJ_C."""
    return vod_client(server, server.ak2, server.sk2, server.proj_c)
