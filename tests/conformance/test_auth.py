"""Authentication and authorisation: AK/SK signatures (as the SDK signs) and vodsnap tokens."""

import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from huaweicloudsdkvod.v1 import DeleteThumbnailsRequest, ListThumbnailInfoRequest

from vodsnap_helpers import (SESSION, assert_error, assert_sdk_error, listed_task_ids, make_body,
                             manual_authorization, plain, register, rid, sdk_date, sdk_error, sign_request,
                             signed, vod_client, with_token)


def list_path(p):
    return f"/v1/{p}/asset/thumbnails"


# ---------------------------------------------------------------- AK/SK through the SDK

def test_sdk_aksk_works(server, client_a, client_c):
    a = rid("a")
    t = register(server, server.proj_a, a, rid("t"))["task_id"]
    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a))
    assert r.status_code == 200 and [x.task_id for x in r.thumbnails] == [t]
    assert client_c.list_thumbnail_info(ListThumbnailInfoRequest()).status_code == 200


def test_sdk_wrong_sk_is_401(server):
    c = vod_client(server, server.ak1, server.sk1 + "x", server.proj_a)
    e = sdk_error(lambda: c.list_thumbnail_info(ListThumbnailInfoRequest()))
    assert_sdk_error(e, 401, "APIGW.0301")


def test_sdk_other_keys_sk_is_401(server):
    c = vod_client(server, server.ak2, server.sk1, server.proj_c)
    e = sdk_error(lambda: c.list_thumbnail_info(ListThumbnailInfoRequest()))
    assert_sdk_error(e, 401, "APIGW.0301")


def test_sdk_unknown_ak_is_401(server):
    c = vod_client(server, rid("AKX"), server.sk1, server.proj_a)
    e = sdk_error(lambda: c.list_thumbnail_info(ListThumbnailInfoRequest()))
    assert_sdk_error(e, 401, "APIGW.0301")


def test_bad_credentials_win_over_bad_params(server):
    c = vod_client(server, server.ak1, "wrong" + server.sk1, server.proj_a)
    e = sdk_error(lambda: c.list_thumbnail_info(ListThumbnailInfoRequest(limit=0, offset=-5)))
    assert_sdk_error(e, 401, "APIGW.0301")
    e = sdk_error(lambda: c.delete_thumbnails(DeleteThumbnailsRequest()))
    assert_sdk_error(e, 401, "APIGW.0301")
    r = signed(server, "GET", list_path(server.proj_a), query=[("page", "x")], sk="nope")
    assert_error(r, 401, "APIGW.0301")
    r = signed(server, "GET", list_path("bad.project"), sk="nope")
    assert_error(r, 401, "APIGW.0301")
    r = signed(server, "POST", list_path(server.proj_a), body={"junk": 1}, sk="nope")
    assert_error(r, 401, "APIGW.0301")
    r = plain(server, "GET", list_path(server.proj_a), query=[("limit", "0")])
    assert_error(r, 401, "APIGW.0301")


def test_ak_on_project_not_granted_is_403(server):
    c = vod_client(server, server.ak1, server.sk1, server.proj_c)
    e = sdk_error(lambda: c.list_thumbnail_info(ListThumbnailInfoRequest()))
    assert_sdk_error(e, 403, "VOD.10057")
    e = sdk_error(lambda: c.delete_thumbnails(DeleteThumbnailsRequest(asset_id=rid("a"))))
    assert_sdk_error(e, 403, "VOD.10057")
    c2 = vod_client(server, server.ak2, server.sk2, server.proj_a)
    e = sdk_error(lambda: c2.list_thumbnail_info(ListThumbnailInfoRequest()))
    assert_sdk_error(e, 403, "VOD.10057")
    r = signed(server, "POST", list_path(server.proj_c), body=make_body(server.proj_c, rid("a"), rid("t")))
    assert_error(r, 403, "VOD.10057")


def test_ak_not_granted_cannot_delete_other_project(server):
    a = rid("a")
    t = register(server, server.proj_c, a, rid("t"), ak=server.ak2, sk=server.sk2)["task_id"]
    c = vod_client(server, server.ak1, server.sk1, server.proj_c)
    e = sdk_error(lambda: c.delete_thumbnails(DeleteThumbnailsRequest(task_id=[t])))
    assert_sdk_error(e, 403, "VOD.10057")
    assert listed_task_ids(server, server.proj_c, ak=server.ak2, sk=server.sk2, asset_id=a) == [t]


def test_x_project_id_must_match_path(server):
    p = server.proj_a
    r = signed(server, "GET", list_path(p), headers={"X-Project-Id": p})
    assert r.status_code == 200, r.text
    r = signed(server, "GET", list_path(p), headers={"X-Project-Id": server.proj_b})  # granted, but not the path's
    assert_error(r, 403, "VOD.10057")
    r = signed(server, "GET", list_path(p), headers={"X-Project-Id": server.proj_c})
    assert_error(r, 403, "VOD.10057")


# ---------------------------------------------------------------- signature details

def test_manual_signer_agrees_with_sdk_signer(server):
    date = sdk_date()
    q = [("task_id", "b"), ("asset_id", "a a"), ("task_id", "a")]
    body = b'{"x": 1}'
    req = sign_request(server, "POST", list_path(server.proj_a), query=q, body=body,
                       headers={"Content-Type": "application/json", "X-Sdk-Date": date})
    names = [n.lower() for n in req.header_params if n != "Authorization"]
    mine = manual_authorization("POST", list_path(server.proj_a), q, req.header_params, names, body,
                                server.ak1, server.sk1, date)
    assert mine == req.header_params["Authorization"]


def test_query_order_does_not_matter(server):
    p, a = server.proj_a, rid("a")
    t = register(server, p, a, rid("t"))["task_id"]
    r = signed(server, "GET", list_path(p), query=[("task_id", t), ("asset_id", a), ("limit", "5")], keep_order=True)
    assert r.status_code == 200, r.text
    assert [x["task_id"] for x in r.json()["thumbnails"]] == [t]


def test_query_values_needing_encoding_are_signed_correctly(server):
    # the id is invalid (400), but the signature over it must verify: not 401
    r = signed(server, "GET", list_path(server.proj_a), query=[("asset_id", "a b+c/d~e")])
    assert_error(r, 400, "VOD.10053", "asset_id")


def _send(server, req, method=None, uri=None, body=None, extra_headers=None):
    headers = dict(req.header_params)
    headers.update(extra_headers or {})
    return SESSION.request(method or req.method, server.base_url + (uri or req.uri), headers=headers,
                           data=req.body if body is None else body, allow_redirects=False, timeout=30)


def test_tampered_request_is_401(server):
    p = server.proj_a
    req = sign_request(server, "GET", list_path(p), query=[("limit", "5")])
    assert _send(server, req).status_code == 200
    assert_error(_send(server, req, uri=list_path(p) + "?limit=6"), 401, "APIGW.0301")
    assert_error(_send(server, req, uri=list_path(server.proj_b) + "?limit=5"), 401, "APIGW.0301")
    assert_error(_send(server, req, uri=list_path(p) + "?limit=5&asset_id=x"), 401, "APIGW.0301")
    assert_error(_send(server, req, method="DELETE", uri=list_path(p) + "?limit=5"), 401, "APIGW.0301")
    # a signed header changed
    req = sign_request(server, "GET", list_path(p), headers={"X-Project-Id": p})
    assert_error(_send(server, req, extra_headers={"X-Project-Id": p + "x"}), 401, "APIGW.0301")
    # the body changed
    a, t = rid("a"), rid("t")
    body = make_body(p, a, t)
    req = sign_request(server, "POST", list_path(p), body=body)
    other = req.body.replace(t.encode(), rid("t").encode())
    assert_error(_send(server, req, body=other), 401, "APIGW.0301")
    assert listed_task_ids(server, p, asset_id=a) == []


def test_unsigned_payload_header_is_honoured(server):
    # the SDK's signer sends X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD for non-JSON bodies;
    # the contract: the body hash is that header's value when sent.
    p, a, t = server.proj_a, rid("a"), rid("t")
    r = signed(server, "POST", list_path(p), body=make_body(p, a, t),
               headers={"Content-Type": "application/json", "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
    assert r.status_code == 201, r.text


def _manual(server, date_header, signed_names, path=None, ak=None, sk=None, date_for_sts=None):
    path = path or list_path(server.proj_a)
    headers = {"Host": server.host}
    if date_header is not None:
        headers["X-Sdk-Date"] = date_header
    auth = manual_authorization("GET", path, [], headers, signed_names, b"", ak or server.ak1, sk or server.sk1,
                                date_for_sts if date_for_sts is not None else (date_header or sdk_date()))
    headers["Authorization"] = auth
    return SESSION.get(server.base_url + path, headers=headers, allow_redirects=False, timeout=30)


def test_manual_signature_accepted(server):
    r = _manual(server, sdk_date(), ["host", "x-sdk-date"])
    assert r.status_code == 200, r.text


def test_sdk_date_missing_is_401(server):
    assert_error(_manual(server, None, ["host"]), 401, "APIGW.0301")


def test_sdk_date_unsigned_is_401(server):
    assert_error(_manual(server, sdk_date(), ["host"]), 401, "APIGW.0301")


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00Z", "20240101T000000", "garbage", "",
                                   "20241301T000000Z", "99999999T999999Z"])
def test_sdk_date_malformed_is_401(server, value):
    assert_error(_manual(server, value, ["host", "x-sdk-date"]), 401, "APIGW.0301")


@pytest.mark.parametrize("minutes,ok", [(-16, False), (16, False), (-14, True), (14, True)])
def test_sdk_date_window(server, minutes, ok):
    date = sdk_date(datetime.now(timezone.utc) + timedelta(minutes=minutes))
    r = signed(server, "GET", list_path(server.proj_a), headers={"X-Sdk-Date": date})
    if ok:
        assert r.status_code == 200, r.text
    else:
        assert_error(r, 401, "APIGW.0301")


# ---------------------------------------------------------------- tokens

def test_token_works(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    token = server.issue_token(p)
    r = with_token(server, "POST", list_path(p), token, body=make_body(p, a, t))
    assert r.status_code == 201, r.text
    r = with_token(server, "GET", list_path(p), token, query=[("asset_id", a)])
    assert r.status_code == 200 and [x["task_id"] for x in r.json()["thumbnails"]] == [t]
    r = with_token(server, "GET", f"/v1/{p}/asset/thumbnail/details", token, query=[("task_id", t)])
    assert r.status_code == 200 and r.json()["total"] == 2
    r = with_token(server, "DELETE", list_path(p), token, query=[("task_id", t)])
    assert r.status_code == 200 and r.json()["delete_result_array"][0]["status"] == "DELETED", r.text


def test_token_other_project_is_403(server):
    token = server.issue_token(server.proj_a)
    assert_error(with_token(server, "GET", list_path(server.proj_b), token), 403, "VOD.10057")
    assert_error(with_token(server, "GET", list_path(server.proj_c), token), 403, "VOD.10057")
    assert_error(with_token(server, "DELETE", list_path(server.proj_b), token, query=[("asset_id", "a")]),
                 403, "VOD.10057")


def test_token_expired_is_401_0307(server):
    token = server.issue_token(server.proj_a, ttl="2s")
    r = with_token(server, "GET", list_path(server.proj_a), token)
    assert r.status_code == 200, r.text
    time.sleep(3.2)
    assert_error(with_token(server, "GET", list_path(server.proj_a), token), 401, "APIGW.0307")


def _tamper(token: str) -> list:
    out = []
    for i in (len(token) // 2, len(token) - 1, 0):
        c = token[i]
        out.append(token[:i] + ("B" if c == "A" else "A") + token[i + 1:])
    out.append(token + "A")
    out.append(token[:-1])
    return out


def test_tampered_token_is_401(server):
    token = server.issue_token(server.proj_a)
    for bad in _tamper(token):
        assert_error(with_token(server, "GET", list_path(server.proj_a), bad), 401, "APIGW.0301")


@pytest.mark.parametrize("bad", ["", "x", "Bearer abc", "a" * 5000, "..", "null"])
def test_garbage_token_is_401(server, bad):
    assert_error(with_token(server, "GET", list_path(server.proj_a), bad), 401, "APIGW.0301")


def test_token_from_another_key_is_401(server):
    out = subprocess.run([server.bin, "token", "issue", "--project", server.proj_a,
                          "--token-key", "K" * 48], capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    forged = out.stdout.decode().strip()
    server.issued_tokens.append(forged)
    assert_error(with_token(server, "GET", list_path(server.proj_a), forged), 401, "APIGW.0301")


def test_both_credentials_is_401(server):
    token = server.issue_token(server.proj_a)
    # token unsigned, added after signing
    req = sign_request(server, "GET", list_path(server.proj_a))
    assert_error(_send(server, req, extra_headers={"X-Auth-Token": token}), 401, "APIGW.0301")
    # token among the signed headers
    r = signed(server, "GET", list_path(server.proj_a), headers={"X-Auth-Token": token})
    assert_error(r, 401, "APIGW.0301")


def test_no_credentials_is_401(server):
    for method, path in [("GET", list_path(server.proj_a)), ("DELETE", list_path(server.proj_a) + "?asset_id=a"),
                         ("GET", f"/v1/{server.proj_a}/asset/thumbnail/details?task_id=t")]:
        assert_error(plain(server, method, path), 401, "APIGW.0301")
    assert_error(plain(server, "POST", list_path(server.proj_a), body=make_body(server.proj_a, "a", "t")),
                 401, "APIGW.0301")


def test_signature_over_values_whose_sort_order_changes_when_encoded(server):
    # The SDK sorts raw values, then percent-encodes; "-x" < "é" raw, but "%C3%A9" < "-x"
    # encoded. The SDK's signature must verify (the ids are then invalid: 400, not 401).
    r = signed(server, "DELETE", list_path(server.proj_a), query=[("task_id", "-x"), ("task_id", "é")])
    assert_error(r, 400, "VOD.10053", "task_id")
