"""Error format, request ids, malformed input and robustness: 4xx, never 5xx, and the server lives on."""

import json

import pytest
from huaweicloudsdkvod.v1 import ListThumbnailInfoRequest

from vodsnap_helpers import (ERROR_KEYS, REQUEST_ID_RE, SESSION, assert_error, assert_error_format, build_head,
                             plain, raw_http, register, rid, sdk_date, sign_request, signed)


def list_path(p):
    return f"/v1/{p}/asset/thumbnails"


# ---------------------------------------------------------------- X-Request-Id

def test_every_response_has_request_id(server, client_a):
    p = server.proj_a
    responses = [
        SESSION.get(server.base_url + "/healthz", timeout=10),
        signed(server, "GET", list_path(p)),
        signed(server, "GET", list_path(p), query=[("limit", "0")]),
        plain(server, "GET", list_path(p)),
        signed(server, "GET", list_path(server.proj_c)),
        signed(server, "PUT", list_path(p)),
        plain(server, "GET", "/definitely/not/here"),
        signed(server, "GET", f"/v1/{p}/asset/thumbnail/details", query=[("task_id", rid("t"))]),
    ]
    seen = set()
    for r in responses:
        rid_ = r.headers.get("X-Request-Id")
        assert rid_ and REQUEST_ID_RE.match(rid_), f"{r.request.method} {r.url} -> {r.status_code} without a valid X-Request-Id"
        seen.add(rid_)
    assert len(seen) == len(responses), "server-made request ids must differ"
    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest())
    assert r.status_code == 200


@pytest.mark.parametrize("value", ["abc-DEF_123.4", "a", "Z" * 128, "..--__"])
def test_valid_client_request_id_is_kept(server, value):
    r = signed(server, "GET", list_path(server.proj_a), headers={"X-Request-Id": value})
    assert r.status_code == 200 and r.headers.get("X-Request-Id") == value
    r = signed(server, "GET", list_path(server.proj_a), query=[("limit", "0")], headers={"X-Request-Id": value})
    body = assert_error(r, 400)
    assert body["request_id"] == value
    r = plain(server, "GET", list_path(server.proj_a), headers={"X-Request-Id": value})
    assert assert_error(r, 401)["request_id"] == value


@pytest.mark.parametrize("value", ["Z" * 129, "has space", "semi;colon", "slash/", "é", "a\tb", "{json}", ""])
def test_invalid_client_request_id_is_replaced(server, value):
    r = plain(server, "GET", list_path(server.proj_a), headers={"X-Request-Id": value.encode("utf-8")})
    got = r.headers.get("X-Request-Id")
    assert got and got != value and REQUEST_ID_RE.match(got), f"sent {value!r}, got {got!r}"
    assert assert_error(r, 401)["request_id"] == got


# ---------------------------------------------------------------- error body format

def test_error_body_is_exactly_three_fields(server):
    r = signed(server, "GET", list_path(server.proj_a), query=[("offset", "-1")])
    body = assert_error(r, 400, "VOD.10053", "offset")
    assert set(body) == ERROR_KEYS
    assert "select" not in body["error_msg"].lower() and "panick" not in body["error_msg"].lower()


# ---------------------------------------------------------------- malformed ids

BAD_IDS = [("len65", "a" * 65), ("dot", "a.b"), ("nul", "\x00"), ("unicode", "tâche"), ("space", "a b"),
           ("slash", "a/b"), ("percent", "%41"), ("emoji", "\U0001F600")]


@pytest.mark.parametrize("name,bad", BAD_IDS, ids=[n for n, _ in BAD_IDS])
def test_malformed_ids_in_query_are_400(server, name, bad):
    p = server.proj_a
    assert_error(signed(server, "GET", list_path(p), query=[("asset_id", bad)]), 400, "VOD.10053", "asset_id")
    assert_error(signed(server, "GET", list_path(p), query=[("task_id", bad)]), 400, "VOD.10053", "task_id")
    assert_error(signed(server, "DELETE", list_path(p), query=[("asset_id", bad)]), 400, "VOD.10053", "asset_id")
    assert_error(signed(server, "DELETE", list_path(p), query=[("task_id", bad)]), 400, "VOD.10053", "task_id")
    assert_error(signed(server, "DELETE", list_path(p), query=[("task_id", "ok"), ("task_id", bad)]), 400,
                 "VOD.10053", "task_id")
    assert_error(signed(server, "GET", f"/v1/{p}/asset/thumbnail/details", query=[("task_id", bad)]), 400,
                 "VOD.10053", "task_id")


PATH_IDS = [("len65", "a" * 65), ("dot", "a.b"), ("nul", "%00"), ("unicode", "t%C3%A2che"), ("space", "a%20b")]


@pytest.mark.parametrize("name,bad", PATH_IDS, ids=[n for n, _ in PATH_IDS])
def test_malformed_project_in_path(server, name, bad):
    # Valid AK/SK, malformed project: 400 naming project_id. The contract does not
    # order 400 before 403, so 403 VOD.10057 (not granted) is accepted too.
    r = signed(server, "GET", f"/v1/{bad}/asset/thumbnails")
    assert r.status_code in (400, 403), r.text
    body = assert_error_format(r)
    if r.status_code == 400:
        assert body["error_code"] == "VOD.10053" and "project_id" in body["error_msg"], body
    else:
        assert body["error_code"] == "VOD.10057", body


def test_repeated_asset_id_is_400(server):
    p = server.proj_a
    q = [("asset_id", "a"), ("asset_id", "b")]
    assert_error(signed(server, "GET", list_path(p), query=q), 400, "VOD.10053", "asset_id")
    assert_error(signed(server, "DELETE", list_path(p), query=q), 400, "VOD.10053", "asset_id")
    assert_error(signed(server, "DELETE", list_path(p), query=[("asset_id", "a"), ("asset_id", "a")]), 400,
                 "VOD.10053", "asset_id")


@pytest.mark.parametrize("value", ["abc", "1.0", "", " 1", "1e3", "0x1", "99999999999999999999999"])
def test_non_integer_offset_is_400(server, value):
    r = signed(server, "GET", list_path(server.proj_a), query=[("offset", value)])
    assert_error(r, 400, "VOD.10053", "offset")


# ---------------------------------------------------------------- routing

@pytest.mark.parametrize("path", ["/nope", "/v1", "/v2/p/asset/thumbnails", "/v1/{p}/asset/nothing",
                                  "/v1/{p}/asset/thumbnails/extra", "/v1/{p}/asset/thumbnail"])
def test_unknown_path_is_404_json(server, path):
    path = path.replace("{p}", server.proj_a)
    r = signed(server, "GET", path)
    body = assert_error(r, 404)
    assert body["error_code"] == "VOD.10062" or body["error_code"].startswith("VODSNAP."), body


@pytest.mark.parametrize("method,path", [("PUT", "/v1/{p}/asset/thumbnails"), ("PATCH", "/v1/{p}/asset/thumbnails"),
                                         ("POST", "/v1/{p}/asset/thumbnail/details"),
                                         ("DELETE", "/v1/{p}/asset/thumbnail/details")])
def test_wrong_method_is_405(server, method, path):
    r = signed(server, method, path.replace("{p}", server.proj_a))
    assert_error(r, 405, "VOD.10058")


# ---------------------------------------------------------------- hostile Authorization headers

def _auth_variants(server):
    good = sign_request(server, "GET", list_path(server.proj_a)).header_params["Authorization"]
    sig = good.split("Signature=")[1]
    return [
        ("garbage", "garbage"),
        ("empty", ""),
        ("algo_only", "SDK-HMAC-SHA256"),
        ("wrong_algorithm", good.replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3")),
        ("aws", good.replace("SDK-HMAC-SHA256", "AWS4-HMAC-SHA256")),
        ("lowercase_algorithm", good.replace("SDK-HMAC-SHA256", "sdk-hmac-sha256")),
        ("missing_signature", good.split(", Signature=")[0]),
        ("empty_signature", good.replace(sig, "")),
        ("short_signature", good.replace(sig, sig[:10])),
        ("non_hex_signature", good.replace(sig, "zz" * 32)),
        ("missing_access", good.replace(f"Access={server.ak1}, ", "")),
        ("missing_signed_headers", "SDK-HMAC-SHA256 Access=%s, Signature=%s" % (server.ak1, sig)),
        ("empty_signed_headers", "SDK-HMAC-SHA256 Access=%s, SignedHeaders=, Signature=%s" % (server.ak1, sig)),
        ("duplicate_access", good.replace("Access=", "Access=x, Access=")),
        ("huge", "SDK-HMAC-SHA256 Access=" + "A" * 100_000 + ", SignedHeaders=host, Signature=" + sig),
        ("many_commas", "SDK-HMAC-SHA256 " + "," * 50_000),
        ("bearer", "Bearer abc.def.ghi"),
    ]


def test_hostile_authorization_headers(server):
    for name, value in _auth_variants(server):
        headers = {"X-Sdk-Date": sdk_date(), "Authorization": value}
        r = SESSION.get(server.base_url + list_path(server.proj_a), headers=headers, timeout=30)
        assert 400 <= r.status_code < 500, f"{name}: {r.status_code} {r.text[:200]}"
        if len(value) > 16 * 1024 and r.status_code == 431:
            # a header-size limit may answer first; it must still be in the contract's format
            assert_error_format(r)
        else:
            assert_error(r, 401, "APIGW.0301")
        assert server.alive(), f"server died after Authorization variant {name}"


@pytest.mark.parametrize("value", [b"SDK-HMAC-SHA256 Access=\xff\xfe, SignedHeaders=host, Signature=00",
                                   b"\xc3\x28\xa0\xa1", b"SDK-HMAC-SHA256 Access=\xe2\x82, SignedHeaders=ho\x80st, Signature=ab"])
def test_non_utf8_authorization(server, value):
    head = build_head("GET", list_path(server.proj_a).encode(), [
        ("Host", server.host), ("X-Sdk-Date", sdk_date()), ("Authorization", value), ("Connection", "close")])
    r = raw_http(server, head)
    assert_error(r, 401, "APIGW.0301")
    assert server.alive()


def test_non_utf8_token(server):
    head = build_head("GET", list_path(server.proj_a).encode(), [
        ("Host", server.host), ("X-Auth-Token", b"\xff\xfe\xfd"), ("Connection", "close")])
    assert_error(raw_http(server, head), 401, "APIGW.0301")
    assert server.alive()


def test_raw_non_ascii_bytes_in_request_target(server):
    # Not valid HTTP: any 4xx will do (a parser-level answer may lack the JSON body); the server lives on.
    token = server.issue_token(server.proj_a)
    for target in [b"/v1/\xff\xfe/asset/thumbnails",
                   b"/v1/" + server.proj_a.encode() + b"/asset/thumbnails?asset_id=\xff"]:
        head = build_head("GET", target, [("Host", server.host), ("X-Auth-Token", token), ("Connection", "close")])
        try:
            r = raw_http(server, head)
            assert 400 <= r.status < 500, f"{target!r}: {r.status} {r.body[:200]!r}"
        except ConnectionError:
            pass  # closing the connection is an acceptable answer to garbage
        assert server.alive()


def test_percent_encoded_non_utf8_project_in_path(server):
    token = server.issue_token(server.proj_a)
    head = build_head("GET", b"/v1/%FF%FE/asset/thumbnails",
                      [("Host", server.host), ("X-Auth-Token", token), ("Connection", "close")])
    r = raw_http(server, head)
    assert r.status in (400, 403), r
    body = assert_error_format(r)
    if r.status == 400:
        assert "project_id" in body["error_msg"], body


def test_token_path_with_malformed_ids_is_400(server):
    token = server.issue_token(server.proj_a)
    head = build_head("GET", b"/v1/" + server.proj_a.encode() + b"/asset/thumbnails?asset_id=%FF%FE",
                      [("Host", server.host), ("X-Auth-Token", token), ("Connection", "close")])
    r = raw_http(server, head)
    assert_error(r, 400, "VOD.10053", "asset_id")


def test_huge_query_string(server):
    p = server.proj_a
    big = "a" * 100_000
    for uri in [list_path(p) + "?asset_id=" + big, list_path(p) + "?" + "&".join(f"x{i}=1" for i in range(12_000))]:
        r = SESSION.get(server.base_url + uri, headers={"X-Sdk-Date": sdk_date()}, timeout=30)
        assert r.status_code in (400, 401, 414, 431), f"{r.status_code} {r.text[:200]}"
        assert server.alive()
    # signed, so authentication is not what stops it
    r = signed(server, "GET", list_path(p), query=[("asset_id", big)])
    assert r.status_code in (400, 414, 431), f"{r.status_code} {r.text[:200]}"
    assert server.alive()


def test_many_headers_and_huge_header(server):
    headers = {f"X-Junk-{i}": "v" for i in range(200)}
    r = SESSION.get(server.base_url + list_path(server.proj_a), headers=headers, timeout=30)
    assert 400 <= r.status_code < 500
    r = SESSION.get(server.base_url + list_path(server.proj_a), headers={"X-Junk": "v" * 200_000}, timeout=30)
    assert 400 <= r.status_code < 500
    assert server.alive()


def test_garbage_http_does_not_kill_server(server):
    for head in [b"GARBAGE", b"GET / HTTP/9.9", b"GET /v1/x/asset/thumbnails HTTP/1.1\r\nHost: x\r\nContent-Length: -1",
                 b"POST " + list_path(server.proj_a).encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\nzz"]:
        try:
            raw_http(server, head, timeout=5)
        except (ConnectionError, OSError, ValueError, IndexError):
            pass
    assert server.alive()


# ---------------------------------------------------------------- operations endpoints

def test_operations_endpoints(server):
    assert SESSION.get(server.base_url + "/healthz", timeout=10).status_code == 200
    assert SESSION.get(server.base_url + "/readyz", timeout=10).status_code == 200
    m = SESSION.get(server.base_url + "/metrics", timeout=10)
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain"), m.headers
    o = SESSION.get(server.base_url + "/openapi.json", timeout=10)
    assert o.status_code == 200
    spec = o.json()
    assert str(spec.get("openapi", "")).startswith("3.1"), spec.get("openapi")
    paths = spec.get("paths", {})
    assert "/v1/{project_id}/asset/thumbnails" in paths, list(paths)
    assert "/v1/{project_id}/asset/thumbnail/details" in paths, list(paths)
    ops = paths["/v1/{project_id}/asset/thumbnails"]
    assert {"get", "post", "delete"} <= set(ops), list(ops)
    for body in (m.text, json.dumps(spec)):
        for secret in (server.sk1, server.sk2, server.token_key):
            assert secret not in body
