"""GET /v1/{project_id}/asset/thumbnails through the SDK (ListThumbnailInfo)."""

import time

import pytest
from huaweicloudsdkvod.v1 import ListThumbnailInfoRequest

from vodsnap_helpers import (assert_error, assert_sdk_error, created_key, list_raw, parse_rfc3339_utc, register,
                             rid, sdk_error, signed)


def test_list_filters_and_combined(server, client_a):
    p, a, b = server.proj_a, rid("a"), rid("b")
    a1 = register(server, p, a, rid("t"))["task_id"]
    a2 = register(server, p, a, rid("t"))["task_id"]
    b1 = register(server, p, b, rid("t"))["task_id"]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a))
    assert r.status_code == 200
    assert r.total == 2 and sorted(x.task_id for x in r.thumbnails) == sorted([a1, a2])

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(task_id=b1))
    assert r.total == 1 and [x.task_id for x in r.thumbnails] == [b1]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a, task_id=a2))
    assert r.total == 1 and [x.task_id for x in r.thumbnails] == [a2]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a, task_id=b1))  # AND, not OR
    assert r.total == 0 and not r.thumbnails

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=rid("none")))
    assert r.total == 0 and not r.thumbnails


def test_list_item_shape_raw(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    reg = register(server, p, a, t, n=3)
    body = list_raw(server, p, task_id=t)
    assert body["total"] == 1
    (item,) = body["thumbnails"]
    assert item["task_id"] == t and item["asset_id"] == a
    assert item["thumbnail_count"] == 3
    assert item["created_at"] == reg["created_at"]
    parse_rfc3339_utc(item["created_at"])
    assert item["thumbnail_para"] == reg["thumbnail_para"]


@pytest.mark.parametrize("para", [
    {"type": "time", "time": 10, "format": 1, "aspect_ratio": 0, "max_length": 480},
    {"type": "time"},
    {"type": "dots", "dots": [3, 1, 2], "cover_position": 2},
    {"type": "quantity", "quantity": 4, "quantity_time": 30, "aspect_ratio": 1},
])
def test_thumbnail_para_round_trips_through_sdk(server, client_a, para):
    p, a, t = server.proj_a, rid("a"), rid("t")
    register(server, p, a, t, para=para, n=5)
    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(task_id=t))
    (item,) = r.thumbnails
    assert item.task_id == t and item.thumbnail_count == 5
    tp = item.thumbnail_para
    expected = {"cover_position": 1, "format": 1, "aspect_ratio": 1}
    if para["type"] == "time":
        expected["time"] = 12
    expected.update(para)
    for k, v in expected.items():
        assert getattr(tp, k) == v, f"thumbnail_para.{k}: {getattr(tp, k)!r} != {v!r}"


def test_list_oldest_first_and_paging(server, client_a):
    p, a = server.proj_a, rid("a")
    stamped = []
    for i in range(7):  # names in reverse creation order
        t = f"z{9 - i}_{rid('t')}"
        stamped.append((created_key(register(server, p, a, t)["created_at"]), t))
        time.sleep(0.002)
    expected = [t for _, t in sorted(stamped)]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a))
    assert r.total == 7 and [x.task_id for x in r.thumbnails] == expected

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a, limit=2))
    assert r.total == 7 and [x.task_id for x in r.thumbnails] == expected[:2]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a, offset=2, limit=3))
    assert r.total == 7 and [x.task_id for x in r.thumbnails] == expected[2:5]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a, offset=6, limit=100))
    assert r.total == 7 and [x.task_id for x in r.thumbnails] == expected[6:]

    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a, offset=7))
    assert r.total == 7 and not r.thumbnails


def test_list_default_limit_is_10(server, client_a):
    p, a = server.proj_a, rid("a")
    for _ in range(12):
        register(server, p, a, rid("t"), n=1)
    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a))
    assert r.total == 12 and len(r.thumbnails) == 10


def test_list_project_wide_is_sorted(server, client_a):
    register(server, server.proj_a, rid("a"), rid("t"))
    body = list_raw(server, server.proj_a, limit=100)
    assert body["total"] >= len(body["thumbnails"]) >= 1
    keys = [(created_key(x["created_at"]), x["task_id"]) for x in body["thumbnails"]]
    assert keys == sorted(keys), "oldest first, ties by task id"


def test_list_is_scoped_to_project(server, client_a, client_b):
    a = rid("a")
    ta = register(server, server.proj_a, a, rid("t"))["task_id"]
    r = client_b.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a))
    assert r.total == 0
    r = client_b.list_thumbnail_info(ListThumbnailInfoRequest(task_id=ta))
    assert r.total == 0


@pytest.mark.parametrize("offset,limit", [(0, 1), (20000, 1), (0, 100), (20000, 100)])
def test_list_paging_bounds_accepted(client_a, offset, limit):
    r = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=rid("a"), offset=offset, limit=limit))
    assert r.status_code == 200 and r.total == 0


@pytest.mark.parametrize("kw,field", [({"offset": 20001}, "offset"), ({"offset": -1}, "offset"),
                                      ({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                      ({"limit": -1}, "limit"), ({"offset": 2 ** 40}, "offset")])
def test_list_paging_out_of_range_is_400(client_a, kw, field):
    e = sdk_error(lambda: client_a.list_thumbnail_info(ListThumbnailInfoRequest(**kw)))
    assert_sdk_error(e, 400, "VOD.10053", field)


@pytest.mark.parametrize("query,field", [
    ([("offset", "abc")], "offset"), ([("offset", "1.5")], "offset"), ([("offset", "")], "offset"),
    ([("limit", "ten")], "limit"), ([("limit", "0x10")], "limit"),
    ([("offset", "1"), ("offset", "2")], "offset"), ([("limit", "1"), ("limit", "2")], "limit"),
    ([("asset_id", "a"), ("asset_id", "b")], "asset_id"), ([("task_id", "a"), ("task_id", "b")], "task_id"),
    ([("page", "1")], "page"), ([("asset", "a")], "asset"),
])
def test_list_bad_query_is_400(server, query, field):
    r = signed(server, "GET", f"/v1/{server.proj_a}/asset/thumbnails", query=query)
    assert_error(r, 400, "VOD.10053", field)
