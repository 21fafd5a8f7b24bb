"""DELETE with dry_run=true (a vodsnap extension, docs/API.md): the delete's
answer, flagged, with nothing changed; on both selections."""

import pytest
from huaweicloudsdkvod.v1 import DeleteThumbnailsRequest, ListThumbnailDetailsRequest

from vodsnap_helpers import assert_error, delete_raw, list_raw, register, rid, signed

HEADER = "X-Vodsnap-Dry-Run"


def seed(server, project, asset, n, prefix="t"):
    ids = []
    for i in range(n):
        t = rid(f"{prefix}{i:02d}")
        register(server, project, asset, t)
        ids.append(t)
    return ids


def delete(server, project, query):
    return signed(server, "DELETE", f"/v1/{project}/asset/thumbnails", query=query)


def dry_run(server, project, query):
    r = delete(server, project, query + [("dry_run", "true")])
    assert r.status_code == 200, r.text
    assert r.headers.get(HEADER) == "true", dict(r.headers)
    body = r.json()
    assert body.pop("dry_run") is True, body
    return body


def real(server, project, query):
    r = delete(server, project, query)
    assert r.status_code == 200, r.text
    assert HEADER not in r.headers, dict(r.headers)
    assert "dry_run" not in r.json(), r.text
    return r.json()


def everything(server, project, asset, client):
    """What a client can read of an asset: the list, and each task's details."""
    listing = list_raw(server, project, asset_id=asset, limit=100)
    details = {t["task_id"]: client.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=t["task_id"])).total
               for t in listing["thumbnails"]}
    return listing, details


def test_a_dry_run_by_tasks_changes_nothing_and_the_delete_then_answers_the_same(server, client_a):
    p, a, b = server.proj_a, rid("a"), rid("b")
    gone, t1, t2 = seed(server, p, a, 3)
    (other,) = seed(server, p, b, 1, prefix="o")
    assert delete_raw(server, p, tasks=[gone]).status_code == 200
    missing = rid("missing")
    query = [("asset_id", a)] + [("task_id", t) for t in (t1, other, missing, gone)]
    before = everything(server, p, a, client_a)

    preview = dry_run(server, p, query)

    assert everything(server, p, a, client_a) == before, "the dry run changed something"
    assert [(i["task_id"], i["status"]) for i in preview["delete_result_array"]] == sorted(
        [(t1, "DELETED"), (other, "FAILED"), (missing, "FAILED"), (gone, "DELETED")]), preview
    assert preview["remaining"] == 1, preview
    # No tombstone: the same registration again is still "already registered", not a conflict.
    register(server, p, a, t1, expect=200)
    # A second dry run answers the same; then the delete itself does.
    assert dry_run(server, p, query) == preview
    assert real(server, p, query) == preview
    assert [t["task_id"] for t in list_raw(server, p, asset_id=a)["thumbnails"]] == [t2]


def test_a_dry_run_of_an_asset_changes_nothing_and_the_delete_then_answers_the_same(server, client_a):
    p, a = server.proj_a, rid("a")
    tasks = seed(server, p, a, 12)
    before = everything(server, p, a, client_a)

    preview = dry_run(server, p, [("asset_id", a)])

    assert everything(server, p, a, client_a) == before, "the dry run changed something"
    assert [i["task_id"] for i in preview["delete_result_array"]] == tasks[:10], "oldest first"
    assert preview["remaining"] == 2
    # The SDK's own delete (which never sends dry_run) deletes what the dry run named.
    resp = client_a.delete_thumbnails(DeleteThumbnailsRequest(asset_id=a))
    assert [(i.task_id, i.status) for i in resp.delete_result_array] == \
        [(i["task_id"], i["status"]) for i in preview["delete_result_array"]]
    assert dry_run(server, p, [("asset_id", a)]) == {
        "delete_result_array": [{"asset_id": a, "task_id": t, "status": "DELETED"} for t in tasks[10:]],
        "remaining": 0}
    assert real(server, p, [("asset_id", a)])["remaining"] == 0
    assert dry_run(server, p, [("asset_id", a)]) == {"delete_result_array": [], "remaining": 0}


def test_dry_run_false_is_the_delete(server):
    p, a = server.proj_a, rid("a")
    (t,) = seed(server, p, a, 1)
    body = real(server, p, [("task_id", t), ("dry_run", "false")])
    assert body == {"delete_result_array": [{"asset_id": a, "task_id": t, "status": "DELETED"}], "remaining": 0}
    assert list_raw(server, p, asset_id=a)["total"] == 0


@pytest.mark.parametrize("pairs", [
    [("dry_run", "yes")], [("dry_run", "1")], [("dry_run", "True")], [("dry_run", "")],
    [("dry_run", "true"), ("dry_run", "true")], [("dry_run", "false"), ("dry_run", "true")],
], ids=["yes", "1", "True", "empty", "twice", "false-then-true"])
def test_any_other_dry_run_is_400_and_deletes_nothing(server, pairs):
    p, a = server.proj_a, rid("a")
    (t,) = seed(server, p, a, 1)
    r = delete(server, p, [("task_id", t)] + pairs)
    assert_error(r, 400, "VOD.10053", names="dry_run")
    assert HEADER not in r.headers
    assert list_raw(server, p, asset_id=a)["total"] == 1, "a refused DELETE must delete nothing"
