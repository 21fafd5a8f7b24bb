"""DELETE /v1/{project_id}/asset/thumbnails: every numbered rule of the contract (docs/API.md)."""

import time

import pytest
from huaweicloudsdkvod.v1 import (DeleteThumbnailsRequest, ListThumbnailDetailsRequest,
                                  ListThumbnailInfoRequest)

from vodsnap_helpers import (assert_error, assert_sdk_error, created_key, delete_raw, listed_task_ids, register, rid,
                             sdk_error, signed)


def seed(server, project, asset, n, prefix="t", ak=None, sk=None):
    """Registers n tasks for asset, oldest first; returns their ids in creation order."""
    ids = []
    for i in range(n):
        t = rid(f"{prefix}{i:02d}")
        register(server, project, asset, t, ak=ak, sk=sk)
        ids.append(t)
    return ids


def raw_delete_ok(server, project, **kw):
    r = delete_raw(server, project, **kw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("delete_result_array"), list), body
    assert isinstance(body.get("remaining"), int) and not isinstance(body.get("remaining"), bool), \
        f"`remaining` must always be an integer: {body}"
    for item in body["delete_result_array"]:
        assert item["status"] in ("DELETED", "FAILED", "UNKNOW"), item
        if item["status"] != "DELETED":
            assert item.get("error_code") and item.get("error_msg"), f"FAILED item needs error_code/msg: {item}"
    return body


def items(body):
    return [(i["task_id"], i["status"]) for i in body["delete_result_array"]]


# ---------------------------------------------------------------- rule 1

@pytest.mark.parametrize("query", [
    lambda a, t: [("task_ids", t)],
    lambda a, t: [("asset_id", a), ("task_ids", t)],
    lambda a, t: [("asset_id", a), ("foo", "")],
    lambda a, t: [("asset_id", a), ("task_id", t), ("extra", "1")],
    lambda a, t: [("Task_Id", t)],
    lambda a, t: [("asset_id", a), ("TASK_ID", t)],
    lambda a, t: [("asset_id", a), ("task_id[]", t)],
    lambda a, t: [("asset_id", a), ("assetId", a)],
], ids=["task_ids", "asset+task_ids", "asset+foo", "asset+task+extra", "Task_Id", "asset+TASK_ID",
        "task_id[]", "assetId"])
def test_unknown_query_param_is_400_and_deletes_nothing(server, query):
    p, a = server.proj_a, rid("a")
    tasks = seed(server, p, a, 2)
    r = signed(server, "DELETE", f"/v1/{p}/asset/thumbnails", query=query(a, tasks[0]))
    assert_error(r, 400, "VOD.10053")
    assert listed_task_ids(server, p, asset_id=a) == tasks, "a refused DELETE must delete nothing"


# ---------------------------------------------------------------- rule 2

def test_neither_selector_is_400_sdk(client_a):
    e = sdk_error(lambda: client_a.delete_thumbnails(DeleteThumbnailsRequest()))
    assert_sdk_error(e, 400, "VOD.10053")


@pytest.mark.parametrize("query", [[], [("asset_id", "")], [("task_id", "")]], ids=["none", "empty_asset", "empty_task"])
def test_neither_selector_is_400_raw(server, query):
    r = signed(server, "DELETE", f"/v1/{server.proj_a}/asset/thumbnails", query=query)
    assert_error(r, 400, "VOD.10053")


# ---------------------------------------------------------------- rule 3

def test_eleven_distinct_task_ids_is_400_and_deletes_nothing(server, client_a):
    p, a = server.proj_a, rid("a")
    tasks = seed(server, p, a, 11)
    e = sdk_error(lambda: client_a.delete_thumbnails(DeleteThumbnailsRequest(task_id=list(tasks))))
    assert_sdk_error(e, 400, "VOD.10053", "task_id")
    e = sdk_error(lambda: client_a.delete_thumbnails(DeleteThumbnailsRequest(asset_id=a, task_id=list(tasks))))
    assert_sdk_error(e, 400, "VOD.10053", "task_id")
    assert listed_task_ids(server, p, asset_id=a, limit=100) == tasks


def test_ten_distinct_with_duplicates_is_200_one_item_each(server, client_a):
    p, a = server.proj_a, rid("a")
    tasks = seed(server, p, a, 10)
    sent = tasks + [tasks[0], tasks[3], tasks[9], tasks[3]]
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(task_id=list(sent)))
    assert resp.status_code == 200
    got = [(i.task_id, i.status) for i in resp.delete_result_array]
    assert sorted(got) == sorted((t, "DELETED") for t in tasks), got
    assert listed_task_ids(server, p, asset_id=a) == []


def test_duplicates_collapse_first_seen_order_raw(server):
    p, a = server.proj_a, rid("a")
    t1, t2 = seed(server, p, a, 2)
    unknown = rid("nope")
    body = raw_delete_ok(server, p, tasks=[t2, t1, t2, unknown, t1, unknown], keep_order=True)
    assert items(body) == [(t2, "DELETED"), (t1, "DELETED"), (unknown, "FAILED")]


# ---------------------------------------------------------------- rule 4

def test_items_in_request_order(server):
    p, a = server.proj_a, rid("a")
    t0, t1, t2 = seed(server, p, a, 3)
    unknown = rid("zz")
    order = [t2, unknown, t0, t1]  # deliberately not sorted, not creation order
    body = raw_delete_ok(server, p, tasks=order, keep_order=True)
    assert [i["task_id"] for i in body["delete_result_array"]] == order
    assert items(body) == [(t2, "DELETED"), (unknown, "FAILED"), (t0, "DELETED"), (t1, "DELETED")]


def test_items_in_request_order_sdk(server, client_a):
    # The SDK sends repeated task_id values sorted (its canonical query is the URI).
    p, a = server.proj_a, rid("a")
    tasks = seed(server, p, a, 4)
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(task_id=list(reversed(tasks))))
    assert [i.task_id for i in resp.delete_result_array] == sorted(tasks)
    assert all(i.status == "DELETED" and i.asset_id == a for i in resp.delete_result_array)


def test_task_of_another_asset_is_failed_and_kept(server, client_a):
    p, a, b = server.proj_a, rid("a"), rid("b")
    ta = seed(server, p, a, 2)
    tb = seed(server, p, b, 1)[0]
    body = raw_delete_ok(server, p, asset=a, tasks=[ta[0], tb], keep_order=True)
    d, f = body["delete_result_array"]
    assert (d["task_id"], d["status"], d["asset_id"]) == (ta[0], "DELETED", a)
    assert (f["task_id"], f["status"]) == (tb, "FAILED")
    assert f["error_code"] == "VOD.10053", f
    assert f["asset_id"] == a, "a FAILED item echoes the request's asset_id"
    assert body["remaining"] == 1, "task-id call with asset_id: remaining = the asset's live results left"
    assert listed_task_ids(server, p, asset_id=b) == [tb]
    assert listed_task_ids(server, p, asset_id=a) == [ta[1]]
    # the same through the SDK
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(asset_id=a, task_id=[tb]))
    assert [(i.task_id, i.status, i.asset_id) for i in resp.delete_result_array] == [(tb, "FAILED", a)]
    assert listed_task_ids(server, p, asset_id=b) == [tb]


# ---------------------------------------------------------------- rule 5

def test_asset_alone_pages_of_ten_oldest_first(server, client_a):
    p, a = server.proj_a, rid("a")
    other = rid("o")
    keep = seed(server, p, other, 1)
    stamped = []
    for i in range(23):  # names in reverse order of creation, so only created_at explains the order
        t = f"z{99 - i:02d}_{rid('t')}"
        stamped.append((created_key(register(server, p, a, t)["created_at"]), t))
        time.sleep(0.002)
    expected = [t for _, t in sorted(stamped)]  # oldest first, ties by task id
    assert listed_task_ids(server, p, asset_id=a, limit=100) == expected
    b1 = raw_delete_ok(server, p, asset=a)
    assert items(b1) == [(t, "DELETED") for t in expected[:10]]
    assert all(i["asset_id"] == a for i in b1["delete_result_array"])
    assert b1["remaining"] == 13
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(asset_id=a))  # through the SDK
    assert [(i.task_id, i.status) for i in resp.delete_result_array] == [(t, "DELETED") for t in expected[10:20]]
    b3 = raw_delete_ok(server, p, asset=a)
    assert items(b3) == [(t, "DELETED") for t in expected[20:]]
    assert b3["remaining"] == 0
    b4 = raw_delete_ok(server, p, asset=a)
    assert b4 == {"delete_result_array": [], "remaining": 0} or \
        (b4["delete_result_array"] == [] and b4["remaining"] == 0)
    assert listed_task_ids(server, p, asset_id=a) == []
    assert listed_task_ids(server, p, asset_id=other) == keep


def test_asset_alone_remaining_counts(server):
    p, a = server.proj_a, rid("a")
    tasks = seed(server, p, a, 12)
    b1 = raw_delete_ok(server, p, asset=a)
    assert [i["task_id"] for i in b1["delete_result_array"]] == tasks[:10]
    assert b1["remaining"] == 2


def test_asset_with_nothing_is_200_empty(server, client_a):
    p = server.proj_a
    body = raw_delete_ok(server, p, asset=rid("empty"))
    assert body["delete_result_array"] == [] and body["remaining"] == 0
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(asset_id=rid("empty")))
    assert resp.status_code == 200 and resp.delete_result_array == []


def test_asset_alone_stays_in_project(server):
    a = rid("a")
    ta = seed(server, server.proj_a, a, 2)
    tb = seed(server, server.proj_b, a, 2)
    body = raw_delete_ok(server, server.proj_b, asset=a)
    assert [i["task_id"] for i in body["delete_result_array"]] == tb
    assert listed_task_ids(server, server.proj_a, asset_id=a) == ta


# ---------------------------------------------------------------- rule 6

def test_statuses_and_retries(server, client_a):
    p, a = server.proj_a, rid("a")
    t1, t2 = seed(server, p, a, 2)
    unknown = rid("unknown")
    body = raw_delete_ok(server, p, tasks=[t1, unknown], keep_order=True)
    d, f = body["delete_result_array"]
    assert d == {**d, "asset_id": a, "task_id": t1, "status": "DELETED"}, "DELETED item: the task's own asset"
    assert f["status"] == "FAILED" and f["task_id"] == unknown
    assert f["error_code"] == "VOD.10062", f
    assert f["asset_id"] == "", "FAILED item without asset_id in the request: asset_id is \"\""
    assert body["remaining"] == 0, "task-id call without asset_id: remaining is 0"
    # retry: the same answer
    again = raw_delete_ok(server, p, tasks=[t1, unknown], keep_order=True)
    assert items(again) == [(t1, "DELETED"), (unknown, "FAILED")]
    assert again["delete_result_array"][0]["asset_id"] == a
    # SDK view of the same
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(task_id=[t1]))
    assert [(i.asset_id, i.task_id, i.status) for i in resp.delete_result_array] == [(a, t1, "DELETED")]
    # already deleted, now named with its asset
    body = raw_delete_ok(server, p, asset=a, tasks=[t1])
    assert items(body) == [(t1, "DELETED")]
    assert body["remaining"] == 1
    assert listed_task_ids(server, p, asset_id=a) == [t2]


def test_unknown_task_with_asset_echoes_asset(server):
    p, a = server.proj_a, rid("a")
    unknown = rid("u")
    body = raw_delete_ok(server, p, asset=a, tasks=[unknown])
    (f,) = body["delete_result_array"]
    assert (f["asset_id"], f["task_id"], f["status"], f["error_code"]) == (a, unknown, "FAILED", "VOD.10062")
    assert body["remaining"] == 0


def test_task_of_other_project_is_unknown(server):
    a = rid("a")
    (t,) = seed(server, server.proj_a, a, 1)
    body = raw_delete_ok(server, server.proj_b, tasks=[t])  # AK1 is granted both projects
    (f,) = body["delete_result_array"]
    assert (f["status"], f["error_code"]) == ("FAILED", "VOD.10062")
    assert listed_task_ids(server, server.proj_a, asset_id=a) == [t]


# ---------------------------------------------------------------- rule 7

def test_deleted_is_gone_from_list_and_details(server, client_a):
    p, a = server.proj_a, rid("a")
    t1, t2 = seed(server, p, a, 2)
    assert client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t1)).total == 2
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(asset_id=a, task_id=[t1]))
    assert [(i.task_id, i.status) for i in resp.delete_result_array] == [(t1, "DELETED")]
    info = client_a.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=a))
    assert [x.task_id for x in info.thumbnails] == [t2] and info.total == 1
    assert client_a.list_thumbnail_info(ListThumbnailInfoRequest(task_id=t1)).total == 0
    e = sdk_error(lambda: client_a.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t1)))
    assert_sdk_error(e, 404, "VOD.10062")
    # and it is not listed project-wide either
    everything = []
    offset = 0
    while True:
        page = client_a.list_thumbnail_info(ListThumbnailInfoRequest(offset=offset, limit=100))
        everything += [x.task_id for x in page.thumbnails]
        offset += 100
        if offset >= page.total or offset > 20000:
            break
    assert t1 not in everything and t2 in everything
