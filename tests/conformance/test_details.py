"""GET /v1/{project_id}/asset/thumbnail/details through the SDK (ListThumbnailDetails)."""

import pytest
from huaweicloudsdkvod.v1 import ListThumbnailDetailsRequest

from vodsnap_helpers import PUBLIC_BASE_URL, assert_error, assert_sdk_error, register, rid, sdk_error, signed


def test_details_ordered_by_offset_with_urls(server, client_a):
    p, a, t = server.proj_a, rid("a"), rid("t")
    offsets = [30, 0, 20, 10, 5]
    thumbs = [{"offset": o, "object_key": f"{p}/{a}/{t}/s{o}.jpg"} for o in offsets]
    register(server, p, a, t, thumbnails=thumbs)
    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t))
    assert r.status_code == 200
    assert r.total == 5
    assert [x.offset for x in r.thumbnail_result] == sorted(offsets)
    for x in r.thumbnail_result:
        assert x.url == f"{PUBLIC_BASE_URL}/{p}/{a}/{t}/s{x.offset}.jpg"


def test_details_paging(server, client_a):
    p, a, t = server.proj_a, rid("a"), rid("t")
    n = 25
    register(server, p, a, t, thumbnails=[{"offset": 100 - i, "object_key": f"{p}/k/{t}/{i}.jpg"} for i in range(n)])
    expected = sorted(100 - i for i in range(n))

    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t))
    assert r.total == n and [x.offset for x in r.thumbnail_result] == expected[:20], "default limit is 20"

    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t, offset=20))
    assert r.total == n and [x.offset for x in r.thumbnail_result] == expected[20:]

    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t, offset=3, limit=4))
    assert r.total == n and [x.offset for x in r.thumbnail_result] == expected[3:7]

    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t, offset=0, limit=100))
    assert r.total == n and [x.offset for x in r.thumbnail_result] == expected

    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t, offset=25))
    assert r.total == n and not r.thumbnail_result


def test_details_raw_shape(server):
    p, a, t = server.proj_a, rid("a"), rid("t")
    register(server, p, a, t, n=2)
    r = signed(server, "GET", f"/v1/{p}/asset/thumbnail/details", query=[("task_id", t)])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["total"] == 2
    assert body["thumbnail_result"] == [
        {**body["thumbnail_result"][0], "offset": 0, "url": f"{PUBLIC_BASE_URL}/{p}/{a}/{t}/0.jpg"},
        {**body["thumbnail_result"][1], "offset": 10, "url": f"{PUBLIC_BASE_URL}/{p}/{a}/{t}/1.jpg"},
    ]


@pytest.mark.parametrize("offset,limit", [(0, 1), (20480, 1), (0, 100), (20480, 100)])
def test_details_paging_bounds_accepted(server, client_a, offset, limit):
    p, a, t = server.proj_a, rid("a"), rid("t")
    register(server, p, a, t, n=1)
    r = client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t, offset=offset, limit=limit))
    assert r.status_code == 200 and r.total == 1
    assert len(r.thumbnail_result) == (1 if offset == 0 else 0)


@pytest.mark.parametrize("kw,field", [({"offset": 20481}, "offset"), ({"offset": -1}, "offset"),
                                      ({"limit": 0}, "limit"), ({"limit": 101}, "limit")])
def test_details_paging_out_of_range_is_400(server, client_a, kw, field):
    p, a, t = server.proj_a, rid("a"), rid("t")
    register(server, p, a, t, n=1)
    e = sdk_error(lambda: client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t, **kw)))
    assert_sdk_error(e, 400, "VOD.10053", field)


def test_details_unknown_task_is_404(client_a):
    e = sdk_error(lambda: client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=rid("nope"))))
    assert_sdk_error(e, 404, "VOD.10062")


def test_details_task_of_other_project_is_404(server, client_b):
    p, a, t = server.proj_a, rid("a"), rid("t")
    register(server, p, a, t, n=1)
    e = sdk_error(lambda: client_b.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t)))
    assert_sdk_error(e, 404, "VOD.10062")


def test_details_task_id_missing_is_400(server, client_a):
    e = sdk_error(lambda: client_a.list_thumbnail_details(ListThumbnailDetailsRequest()))
    assert_sdk_error(e, 400, "VOD.10053", "task_id")
    r = signed(server, "GET", f"/v1/{server.proj_a}/asset/thumbnail/details", query=[("limit", "5")])
    assert_error(r, 400, "VOD.10053", "task_id")


@pytest.mark.parametrize("query,field", [
    ([("task_id", "a"), ("task_id", "b")], "task_id"),
    ([("task_id", "t"), ("asset_id", "a")], "asset_id"),
    ([("task_id", "t"), ("page", "1")], "page"),
    ([("task_id", "t"), ("offset", "x")], "offset"),
    ([("task_id", "t"), ("limit", "1e2")], "limit"),
])
def test_details_bad_query_is_400(server, query, field):
    r = signed(server, "GET", f"/v1/{server.proj_a}/asset/thumbnail/details", query=query)
    assert_error(r, 400, "VOD.10053", field)
