"""POST /v1/{project_id}/asset/thumbnails (vodsnap extension): registration."""

import json

import pytest

from vodsnap_helpers import (assert_error, build_head, created_key, delete_raw, list_raw, make_body,
                             parse_rfc3339_utc, raw_http, register, rid, sign_request, signed)


def post(server, project, body, headers=None, **kw):
    return signed(server, "POST", f"/v1/{project}/asset/thumbnails", body=body, headers=headers, **kw)


def test_register_201_returns_stored_result(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t, thumbnails=[{"offset": 10, "object_key": f"{p}/{a}/{t}/1.jpg"},
                                          {"offset": 0, "object_key": f"{p}/{a}/{t}/0.jpg"}])
    r = post(server, p, body)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    got = r.json()
    assert got["asset_id"] == a and got["task_id"] == t
    para = {k: v for k, v in got["thumbnail_para"].items() if v is not None}
    assert para == {"type": "time", "time": 10, "cover_position": 1, "format": 1,
                                     "aspect_ratio": 0, "max_length": 480}
    assert got["thumbnail_count"] == 2
    parse_rfc3339_utc(got["created_at"])
    assert sorted((s["offset"], s["object_key"]) for s in got["thumbnails"]) == \
        [(0, f"{p}/{a}/{t}/0.jpg"), (10, f"{p}/{a}/{t}/1.jpg")]
    for s in got["thumbnails"]:
        assert set(s) >= {"offset", "object_key"}


def test_register_defaults_filled(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    got = register(server, p, a, t, para={"type": "time"})
    assert got["thumbnail_para"]["time"] == 12
    assert got["thumbnail_para"]["cover_position"] == 1
    assert got["thumbnail_para"]["format"] == 1
    assert got["thumbnail_para"]["aspect_ratio"] == 1
    assert got["thumbnail_para"].get("max_length") in (None,)  # not given, not invented


def test_register_same_body_again_is_200_and_same_result(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t, n=3)
    r1 = post(server, p, body)
    assert r1.status_code == 201, r1.text
    r2 = post(server, p, body)
    assert r2.status_code == 200, r2.text
    assert r2.json() == r1.json(), "the replay must answer the stored result (same created_at)"
    assert listed_count(server, p, t) == 1


def listed_count(server, p, t):
    return list_raw(server, p, task_id=t)["total"]


@pytest.mark.parametrize("change", ["asset", "para", "thumbnails", "object_key"])
def test_register_same_task_different_body_is_409(server, change):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t)
    assert post(server, p, body).status_code == 201
    other = json.loads(json.dumps(body))
    if change == "asset":
        other["asset_id"] = rid("a")
    elif change == "para":
        other["thumbnail_para"]["time"] = 11
    elif change == "thumbnails":
        other["thumbnails"].append({"offset": 99, "object_key": f"{p}/{a}/{t}/99.jpg"})
    else:
        other["thumbnails"][0]["object_key"] += ".png"
    assert_error(post(server, p, other), 409, "VODSNAP.0409")
    # the stored result is unchanged
    item = list_raw(server, p, task_id=t)["thumbnails"][0]
    assert item["asset_id"] == a and item["thumbnail_para"]["time"] == 10 and item["thumbnail_count"] == 2


def test_register_deleted_task_id_is_409(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t)
    assert post(server, p, body).status_code == 201
    d = delete_raw(server, p, tasks=[t])
    assert d.status_code == 200 and d.json()["delete_result_array"][0]["status"] == "DELETED", d.text
    assert_error(post(server, p, body), 409, "VODSNAP.0409")
    other = make_body(p, rid("a"), t)
    assert_error(post(server, p, other), 409, "VODSNAP.0409")
    assert list_raw(server, p, task_id=t)["total"] == 0


def test_a_tenant_cannot_claim_another_projects_object_key(server):
    # Project C (another credential) registers B's live image under its own
    # task: refused, so deleting C's task can never remove B's file, and C
    # cannot keep B's deleted images alive by referencing them.
    a, t = rid("a"), rid("t")
    b_key = f"{server.proj_b}/{a}/{t}/0.jpg"
    register(server, server.proj_b, a, t, thumbnails=[{"offset": 0, "object_key": b_key}])
    body = make_body(server.proj_c, a, rid("t"), thumbnails=[{"offset": 0, "object_key": b_key}])
    r = signed(server, "POST", f"/v1/{server.proj_c}/asset/thumbnails", body=body,
               ak=server.ak2, sk=server.sk2)
    assert_error(r, 400, "VOD.10053", "thumbnails[0].object_key")
    assert list_raw(server, server.proj_c, ak=server.ak2, sk=server.sk2, asset_id=a)["total"] == 0


def test_task_id_unique_per_project_not_globally(server):
    a, t = rid("a"), rid("t")
    register(server, server.proj_a, a, t)
    register(server, server.proj_b, a, t)  # same AK, other project: a different task result
    register(server, server.proj_c, a, t, ak=server.ak2, sk=server.sk2)
    assert list_raw(server, server.proj_a, task_id=t)["total"] == 1
    assert list_raw(server, server.proj_b, task_id=t)["total"] == 1


# ---------------------------------------------------------------- thumbnail_para rules

BAD_PARA = [
    ({"time": 10}, "type"),
    ({"type": "video"}, "type"),
    ({"type": ""}, "type"),
    ({"type": "time", "time": -1}, "time"),
    ({"type": "time", "time": 101}, "time"),
    ({"type": "time", "time": "10"}, "time"),
    ({"type": "time", "time": 1.5}, "time"),
    ({"type": "dots"}, "dots"),
    ({"type": "dots", "dots": []}, "dots"),
    ({"type": "dots", "dots": "1,2"}, "dots"),
    ({"type": "quantity"}, "quantity"),
    ({"type": "quantity", "quantity": 0}, "quantity"),
    ({"type": "quantity", "quantity": 11}, "quantity"),
    ({"type": "quantity", "quantity": 2, "quantity_time": -1}, "quantity_time"),
    ({"type": "time", "cover_position": 0}, "cover_position"),
    ({"type": "time", "cover_position": -3}, "cover_position"),
    ({"type": "time", "format": 2}, "format"),
    ({"type": "time", "format": 0}, "format"),
    ({"type": "time", "aspect_ratio": 2}, "aspect_ratio"),
    ({"type": "time", "aspect_ratio": -1}, "aspect_ratio"),
    ({"type": "time", "max_length": 0}, "max_length"),
    ({"type": "time", "max_length": -480}, "max_length"),
    ({"type": "time", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize("para,field", BAD_PARA, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_PARA)])
def test_register_bad_thumbnail_para_is_400(server, para, field):
    p, a, t = server.proj_a, rid("a"), rid("t")
    assert_error(post(server, p, make_body(p, a, t, para=para)), 400, "VOD.10053", field)
    assert list_raw(server, p, task_id=t)["total"] == 0


GOOD_PARA = [
    ({"type": "time", "time": 0}, {"time": 0}),
    ({"type": "time", "time": 100}, {"time": 100}),
    ({"type": "dots", "dots": [0, 5, 7]}, {"dots": [0, 5, 7]}),
    ({"type": "quantity", "quantity": 1}, {"quantity": 1}),
    ({"type": "quantity", "quantity": 10, "quantity_time": 0}, {"quantity": 10, "quantity_time": 0}),
    ({"type": "time", "cover_position": 3, "aspect_ratio": 0, "max_length": 1}, {"cover_position": 3, "max_length": 1}),
]


@pytest.mark.parametrize("para,expect", GOOD_PARA)
def test_register_good_thumbnail_para(server, para, expect):
    p, a, t = server.proj_a, rid("a"), rid("t")
    got = register(server, p, a, t, para=para)
    for k, v in expect.items():
        assert got["thumbnail_para"][k] == v, got
    assert got["thumbnail_para"]["type"] == para["type"]


def test_register_missing_thumbnail_para_is_400(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t)
    del body["thumbnail_para"]
    assert_error(post(server, p, body), 400, "VOD.10053", "thumbnail_para")


# ---------------------------------------------------------------- thumbnails rules

def _keys(p, a, t, n):
    return [{"offset": i, "object_key": f"{p}/{a}/{t}/{i}.jpg"} for i in range(n)]


def bad_thumbnails_cases():
    return [
        ("empty", lambda p, a, t: [], "thumbnails"),
        ("too_many", lambda p, a, t: _keys(p, a, t, 10001), "thumbnails"),
        ("negative_offset", lambda p, a, t: [{"offset": -1, "object_key": f"{p}/k/0.jpg"}], "offset"),
        ("dup_offset", lambda p, a, t: [{"offset": 5, "object_key": f"{p}/k/0.jpg"},
                                        {"offset": 5, "object_key": f"{p}/k/1.jpg"}], "offset"),
        ("dup_key", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/k/0.jpg"},
                                     {"offset": 1, "object_key": f"{p}/k/0.jpg"}], "object_key"),
        ("empty_key", lambda p, a, t: [{"offset": 0, "object_key": ""}], "object_key"),
        ("long_key", lambda p, a, t: [{"offset": 0, "object_key": "k" * 1025}], "object_key"),
        ("long_key_bytes", lambda p, a, t: [{"offset": 0, "object_key": "é" * 512 + "a"}], "object_key"),
        ("dotdot_middle", lambda p, a, t: [{"offset": 0, "object_key": "a/../b.jpg"}], "object_key"),
        ("dotdot_start", lambda p, a, t: [{"offset": 0, "object_key": "../b.jpg"}], "object_key"),
        ("dotdot_end", lambda p, a, t: [{"offset": 0, "object_key": "a/.."}], "object_key"),
        ("dotdot_only", lambda p, a, t: [{"offset": 0, "object_key": ".."}], "object_key"),
        ("leading_slash", lambda p, a, t: [{"offset": 0, "object_key": "/a/b.jpg"}], "object_key"),
        ("nul", lambda p, a, t: [{"offset": 0, "object_key": "a\u0000b.jpg"}], "object_key"),
        ("newline", lambda p, a, t: [{"offset": 0, "object_key": "a\nb.jpg"}], "object_key"),
        ("unit_sep", lambda p, a, t: [{"offset": 0, "object_key": "a\u001fb.jpg"}], "object_key"),
        ("del", lambda p, a, t: [{"offset": 0, "object_key": "a\u007fb.jpg"}], "object_key"),
        ("offset_string", lambda p, a, t: [{"offset": "0", "object_key": f"{p}/k/0.jpg"}], "offset"),
        ("offset_missing", lambda p, a, t: [{"object_key": f"{p}/k/0.jpg"}], "offset"),
        ("key_missing", lambda p, a, t: [{"offset": 0}], "object_key"),
        ("item_unknown_field", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/k/0.jpg", "url": "x"}], "url"),
        # Keys the object store would rewrite or refuse are refused here,
        # not parked after the client was told DELETED.
        ("empty_segment", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/a//b.jpg"}], "object_key"),
        ("dot_segment", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/a/./b.jpg"}], "object_key"),
        ("trailing_slash", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/a/b/"}], "object_key"),
        ("reserved_suffix", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/a/b#12"}], "object_key"),
        # Object keys belong to their project: the error names the item.
        ("other_project", lambda p, a, t: [{"offset": 0, "object_key": f"{p}/a/0.jpg"},
                                           {"offset": 1, "object_key": f"{p}x/a/1.jpg"}],
         "thumbnails[1].object_key"),
        ("no_project_prefix", lambda p, a, t: [{"offset": 0, "object_key": "0.jpg"}],
         "thumbnails[0].object_key"),
    ]


@pytest.mark.parametrize("case", bad_thumbnails_cases(), ids=lambda c: c[0])
def test_register_bad_thumbnails_is_400(server, case):
    _, make, field = case
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t, thumbnails=make(p, a, t))
    assert_error(post(server, p, body), 400, "VOD.10053", field)
    assert list_raw(server, p, task_id=t)["total"] == 0


def test_register_missing_thumbnails_is_400(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t)
    del body["thumbnails"]
    assert_error(post(server, p, body), 400, "VOD.10053", "thumbnails")


def test_register_boundary_thumbnails_accepted(server):
    p, a = server.proj_a, rid("a")
    # exactly 1024 bytes, multi-byte characters; '..' inside a segment is fine
    t = rid("t")
    prefix = f"{p}/"
    got = register(server, p, a, t, thumbnails=[
        {"offset": 0, "object_key": prefix + "é" * ((1024 - len(prefix)) // 2) + "k" * ((1024 - len(prefix)) % 2)},
        {"offset": 1, "object_key": f"{p}/a..b/c..jpg"},
        {"offset": 2, "object_key": prefix + "k" * (1024 - len(prefix))}])
    assert got["thumbnail_count"] == 3
    # exactly 10,000 snapshots
    t = rid("t")
    got = register(server, p, a, t, thumbnails=_keys(p, a, t, 10000))
    assert got["thumbnail_count"] == 10000


@pytest.mark.parametrize("field,value", [("asset_id", None), ("task_id", None), ("asset_id", "a" * 65),
                                         ("task_id", "a.b"), ("asset_id", ""), ("task_id", "tâche"),
                                         ("asset_id", 5)])
def test_register_bad_ids_are_400(server, field, value):
    p = server.proj_a
    body = make_body(p, rid("a"), rid("t"))
    if value is None:
        del body[field]
    else:
        body[field] = value
    assert_error(post(server, p, body), 400, "VOD.10053", field)


def test_register_unknown_top_level_field_is_400(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    body = make_body(p, a, t)
    body["project_id"] = p
    assert_error(post(server, p, body), 400, "VOD.10053", "project_id")
    assert list_raw(server, p, task_id=t)["total"] == 0


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[]", b"null", b'{"asset_id": "a", }', b"\xff\xfe{}",
                                 b""])
def test_register_malformed_json_is_400(server, raw):
    r = post(server, server.proj_a, raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "VOD.10053")


def test_register_content_type_with_charset_accepted(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    r = post(server, p, json.dumps(make_body(p, a, t)).encode(),
             headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                   "multipart/form-data; boundary=x", None])
def test_register_wrong_or_missing_content_type_is_415(server, ctype):
    p, a, t = server.proj_a, rid("a"), rid("t")
    payload = json.dumps(make_body(p, a, t)).encode()
    if ctype is None:
        # requests would not add one; sign without Content-Type
        req = sign_request(server, "POST", f"/v1/{p}/asset/thumbnails", body=payload, headers={})
        assert not any(k.lower() == "content-type" for k in req.header_params)
        headers = list(req.header_params.items()) + [("Content-Length", str(len(payload))),
                                                      ("Connection", "close")]
        r = raw_http(server, build_head("POST", req.uri.encode(), headers), payload)
    else:
        r = post(server, p, payload, headers={"Content-Type": ctype})
    assert_error(r, 415, "VOD.10059")
    assert list_raw(server, p, task_id=t)["total"] == 0


def test_register_body_too_large_is_413(server):
    p = server.proj_a
    payload = b'{"asset_id": "' + b"a" * (13 * 1024 * 1024) + b'"}'
    req = sign_request(server, "POST", f"/v1/{p}/asset/thumbnails", body=payload,
                       headers={"Content-Type": "application/json"})
    headers = list(req.header_params.items()) + [("Content-Length", str(len(payload))),
                                                  ("Expect", "100-continue"), ("Connection", "close")]
    r = raw_http(server, build_head("POST", req.uri.encode(), headers), payload, expect_continue=True)
    assert_error(r, 413, "VODSNAP.0413")
    assert server.alive()


def test_register_created_at_is_monotonic(server):
    p, a = server.proj_a, rid("a")
    stamps = [register(server, p, a, rid("t"))["created_at"] for _ in range(3)]
    keys = [created_key(s) for s in stamps]
    assert keys == sorted(keys), stamps
