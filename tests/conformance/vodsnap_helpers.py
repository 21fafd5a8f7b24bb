"""Helpers shared by the vodsnap SDK conformance suite.

Everything here talks to a real `vodsnap serve` process (started by
conftest.py). Three ways to call it:

* the official SDK (`vod_client`), exactly as a Huawei Cloud user would;
* `signed(...)`: any method/path/query/body/headers, signed with the SDK's own
  `Signer`, sent with `requests`;
* `raw_http(...)`: bytes on a socket, for what `requests` refuses to send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import select
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Optional
from urllib.parse import quote, unquote

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkvod.v1 import VodClient

SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
ERROR_KEYS = {"error_code", "error_msg", "request_id"}
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
PUBLIC_BASE_URL = "https://cdn.test/vod"

# --------------------------------------------------------------------------
# server handle
# --------------------------------------------------------------------------


@dataclass
class Server:
    bin: str
    host: str  # "127.0.0.1:PORT"
    token_key: str
    ak1: str
    sk1: str
    proj_a: str
    proj_b: str
    ak2: str
    sk2: str
    proj_c: str
    log_dir: str
    proc: Optional[subprocess.Popen]  # None: a server started elsewhere (VODSNAP_CONFORMANCE_URL)
    stdout_path: str
    stderr_path: str
    issued_tokens: list = field(default_factory=list)
    # Set on the server that serves its own signed snapshot links.
    url_key: str = ""
    storage_dir: str = ""

    @property
    def base_url(self) -> str:
        return "http://" + self.host

    def issue_token(self, project: str, ttl: Optional[str] = None) -> str:
        assert self.bin, ("issuing a token needs the vodsnap binary and the server's token key: "
                          "this test cannot run against VODSNAP_CONFORMANCE_URL")
        cmd = [self.bin, "token", "issue", "--project", project, "--token-key", self.token_key]
        if ttl is not None:
            cmd += ["--ttl", ttl]
        out = subprocess.run(cmd, capture_output=True, timeout=20)
        assert out.returncode == 0, (
            f"`vodsnap token issue` failed ({out.returncode}): {out.stderr.decode(errors='replace')}"
        )
        lines = [l for l in out.stdout.decode().splitlines() if l.strip()]
        assert len(lines) == 1, f"`token issue` must print only the token, got {out.stdout!r}"
        token = lines[0].strip()
        self.issued_tokens.append(token)
        return token

    def alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            return False
        try:
            r = SESSION.get(self.base_url + "/healthz", timeout=5)
        except requests.RequestException:
            return False
        return r.status_code == 200

    def logs(self) -> str:
        parts = []
        for p in (self.stdout_path, self.stderr_path):
            try:
                with open(p, "rb") as f:
                    parts.append(f.read().decode("utf-8", errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)


SESSION = requests.Session()
SESSION.trust_env = False  # never route loopback calls through a proxy


def rid(prefix: str = "x") -> str:
    """A fresh id of [A-Za-z0-9_-], unique per call."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


# --------------------------------------------------------------------------
# SDK client
# --------------------------------------------------------------------------


def vod_client(server: Server, ak: str, sk: str, project: str) -> VodClient:
    cfg = HttpConfig.get_default_config()
    cfg.retry_times = 0  # a failure must not be retried away
    cfg.timeout = (5, 60)
    return (
        VodClient.new_builder()
        .with_http_config(cfg)
        .with_credentials(BasicCredentials(ak, sk, project))
        .with_endpoint(server.base_url)
        .build()
    )


def sdk_error(call):
    """Runs `call`, which must raise the SDK's ClientRequestException; returns it."""
    try:
        result = call()
    except sdk_exceptions.ClientRequestException as e:
        return e
    except sdk_exceptions.ServerResponseException as e:  # 5xx
        raise AssertionError(f"expected a 4xx, got server error {e.status_code} {e.error_code}: {e.error_msg}")
    raise AssertionError(f"expected an error response, got success: {result}")


# --------------------------------------------------------------------------
# raw requests signed with the SDK's signer
# --------------------------------------------------------------------------


def encode_query(pairs: Iterable) -> str:
    return "&".join(f"{quote(str(k), safe='~')}={quote(str(v), safe='~')}" for k, v in pairs)


def _prepare_body(body, headers: dict):
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    return body


def sign_request(server: Server, method: str, path: str, query=None, body=None, headers=None,
                 ak=None, sk=None) -> SdkRequest:
    """Builds and signs an SdkRequest with the SDK's own Signer."""
    headers = dict(headers or {})
    body = _prepare_body(body, headers)
    req = SdkRequest(method=method, schema="http", host=server.host, resource_path=path,
                     query_params=[(k, str(v)) for k, v in (query or [])],
                     header_params=headers, body=body)
    Signer(BasicCredentials(ak or server.ak1, sk or server.sk1)).sign(req)
    return req


def signed(server: Server, method: str, path: str, query=None, body=None, headers=None,
           ak=None, sk=None, keep_order: bool = False, timeout=30) -> requests.Response:
    """Sends an AK/SK-signed request. `query` is a list of (key, value) pairs.

    By default the query is sent in the SDK's canonical (sorted) order, as
    the SDK sends it; `keep_order=True` sends the pairs in the given order
    (the signature is the same: the canonical query is sorted).
    """
    query = list(query or [])
    req = sign_request(server, method, path, query, body, headers, ak, sk)
    uri = req.uri
    if keep_order and query:
        uri = path + "?" + encode_query(query)
    return SESSION.request(method, server.base_url + uri, headers=req.header_params, data=req.body,
                           allow_redirects=False, timeout=timeout)


def with_token(server: Server, method: str, path: str, token: str, query=None, body=None,
               headers=None, timeout=30) -> requests.Response:
    headers = dict(headers or {})
    body = _prepare_body(body, headers)
    headers["X-Auth-Token"] = token
    uri = path + ("?" + encode_query(query) if query else "")
    return SESSION.request(method, server.base_url + uri, headers=headers, data=body,
                           allow_redirects=False, timeout=timeout)


def plain(server: Server, method: str, path: str, query=None, body=None, headers=None,
          timeout=30) -> requests.Response:
    headers = dict(headers or {})
    body = _prepare_body(body, headers)
    uri = path + ("?" + encode_query(query) if query else "")
    return SESSION.request(method, server.base_url + uri, headers=headers, data=body,
                           allow_redirects=False, timeout=timeout)


# A signer written from the contract, for requests the SDK's Signer cannot
# produce (unsigned or malformed X-Sdk-Date, missing headers...). A test checks
# that it agrees with the SDK's Signer.

def canonical_uri(path: str) -> str:
    uri = "/".join(quote(unquote(seg), safe="~") for seg in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs) -> str:
    enc = sorted((quote(str(k), safe="~"), quote(str(v), safe="~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def manual_authorization(method: str, path: str, query, headers: dict, signed_names, body: bytes,
                         ak: str, sk: str, date: str, algorithm: str = "SDK-HMAC-SHA256") -> str:
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    names = sorted(n.lower() for n in signed_names)
    canon_headers = "".join(f"{n}:{lower[n]}\n" for n in names)
    body_hash = hashlib.sha256(body or b"").hexdigest()
    creq = "\n".join([method.upper(), canonical_uri(path), canonical_query(query or []), canon_headers,
                      ";".join(names), body_hash])
    sts = f"SDK-HMAC-SHA256\n{date}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    sig = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
    return f"{algorithm} Access={ak}, SignedHeaders={';'.join(names)}, Signature={sig}"


def sdk_date(dt: Optional[datetime] = None) -> str:
    return (dt or datetime.now(timezone.utc)).strftime(SDK_DATE_FORMAT)


# --------------------------------------------------------------------------
# raw HTTP over a socket
# --------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict  # lower-case name -> value (last wins)
    body: bytes

    def json(self):
        return json.loads(self.body)


def _read_response(f) -> RawResponse:
    while True:
        status_line = f.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        parts = status_line.decode("latin-1").split(" ", 2)
        status = int(parts[1])
        headers = {}
        while True:
            line = f.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue
        if "content-length" in headers:
            body = f.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(f.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += f.read(size)
                f.readline()
        else:
            body = f.read()
        return RawResponse(status, headers, body)


def raw_http(server: Server, head: bytes, body: bytes = b"", timeout: float = 20,
             expect_continue: bool = False) -> RawResponse:
    """Sends `head` (request line + headers, without the final blank line) and `body`.

    With `expect_continue`, waits up to 1.5 s for the server's first answer
    before sending the body; the body is sent from a thread while the response
    is read, so an early answer (e.g. 413) is not lost.
    """
    host, port = server.host.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        sock.sendall(head.rstrip(b"\r\n") + b"\r\n\r\n")
        f = sock.makefile("rb")
        if body:
            if expect_continue:
                select.select([sock], [], [], 1.5)

            def send_body():
                try:
                    view = memoryview(body)
                    for i in range(0, len(view), 1 << 16):
                        sock.sendall(view[i:i + (1 << 16)])
                except OSError:
                    pass

            t = threading.Thread(target=send_body, daemon=True)
            t.start()
        return _read_response(f)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def build_head(method: str, target: bytes, headers) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1"]
    for k, v in headers:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode("latin-1") if isinstance(v, str) else v
        lines.append(k + b": " + v)
    return b"\r\n".join(lines)


# --------------------------------------------------------------------------
# assertions
# --------------------------------------------------------------------------


def assert_error(resp, status: int, code: Optional[str] = None, names: Optional[str] = None):
    """Checks a requests.Response / RawResponse is an error in the contract's format."""
    st = resp.status_code if hasattr(resp, "status_code") else resp.status
    headers = resp.headers
    text = resp.text if hasattr(resp, "text") else resp.body.decode("utf-8", "replace")
    assert st == status, f"expected HTTP {status}, got {st}: {text[:500]}"
    assert_error_format(resp)
    body = resp.json()
    if code is not None:
        assert body["error_code"] == code, f"expected error_code {code}, got {body}"
    if names is not None:
        assert names in body["error_msg"], f"error_msg should name {names!r}: {body}"
    return body


def assert_error_format(resp):
    headers = resp.headers
    get = headers.get
    text = resp.text if hasattr(resp, "text") else resp.body.decode("utf-8", "replace")
    ctype = get("content-type") or get("Content-Type") or ""
    assert ctype.startswith("application/json"), f"error Content-Type {ctype!r}, body {text[:300]}"
    try:
        body = json.loads(text)
    except ValueError:
        raise AssertionError(f"error body is not JSON: {text[:300]!r}")
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, f"error body keys must be {ERROR_KEYS}: {body}"
    for k in ERROR_KEYS:
        assert isinstance(body[k], str) and body[k], f"{k} must be a non-empty string: {body}"
    hdr = get("x-request-id") or get("X-Request-Id")
    assert hdr, "error response without X-Request-Id"
    assert body["request_id"] == hdr, f"request_id {body['request_id']!r} != X-Request-Id {hdr!r}"
    return body


def assert_sdk_error(e, status: int, code: Optional[str] = None, names: Optional[str] = None):
    assert e.status_code == status, f"expected HTTP {status}, got {e.status_code} {e.error_code}: {e.error_msg}"
    if code is not None:
        assert e.error_code == code, f"expected {code}, got {e.error_code}: {e.error_msg}"
    if names is not None:
        assert names in (e.error_msg or ""), f"error_msg should name {names!r}: {e.error_msg}"
    assert e.request_id, "SDK saw no X-Request-Id on the error"


def parse_rfc3339_utc(s: str) -> datetime:
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|\+00:00)", s)
    assert m, f"created_at {s!r} is not RFC 3339 UTC"
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    frac = (m.group(2) or "0").ljust(9, "0")
    return base.replace(microsecond=int(frac[:6])), int(frac)  # type: ignore[return-value]


def created_key(s: str):
    """Sort key for created_at with full (nanosecond) precision."""
    dt, nanos = parse_rfc3339_utc(s)
    return (dt.replace(microsecond=0), nanos)


# --------------------------------------------------------------------------
# domain helpers
# --------------------------------------------------------------------------

DEFAULT_PARA = {"type": "time", "time": 10, "format": 1, "aspect_ratio": 0, "max_length": 480}


def make_body(project: str, asset: str, task: str, para=None, n: int = 2, thumbnails=None) -> dict:
    if thumbnails is None:
        thumbnails = [{"offset": i * 10, "object_key": f"{project}/{asset}/{task}/{i}.jpg"} for i in range(n)]
    return {"asset_id": asset, "task_id": task,
            "thumbnail_para": dict(DEFAULT_PARA if para is None else para),
            "thumbnails": thumbnails}


def register(server: Server, project: str, asset: str, task: str, para=None, n: int = 2,
             thumbnails=None, ak=None, sk=None, expect=201) -> dict:
    body = make_body(project, asset, task, para, n, thumbnails)
    r = signed(server, "POST", f"/v1/{project}/asset/thumbnails", body=body, ak=ak, sk=sk)
    if expect is not None:
        assert r.status_code == expect, f"registration: expected {expect}, got {r.status_code}: {r.text[:500]}"
    return r.json()


def list_raw(server: Server, project: str, ak=None, sk=None, **query) -> dict:
    r = signed(server, "GET", f"/v1/{project}/asset/thumbnails", query=list(query.items()), ak=ak, sk=sk)
    assert r.status_code == 200, f"list: {r.status_code} {r.text[:500]}"
    return r.json()


def listed_task_ids(server: Server, project: str, ak=None, sk=None, **query) -> list:
    return [t["task_id"] for t in list_raw(server, project, ak=ak, sk=sk, **query)["thumbnails"]]


def delete_raw(server: Server, project: str, asset=None, tasks=(), keep_order=False, ak=None, sk=None):
    q = []
    if asset is not None:
        q.append(("asset_id", asset))
    q += [("task_id", t) for t in tasks]
    return signed(server, "DELETE", f"/v1/{project}/asset/thumbnails", query=q, keep_order=keep_order,
                  ak=ak, sk=sk)
