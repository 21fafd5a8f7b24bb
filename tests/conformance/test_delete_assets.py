"""DELETE /v1.0/{project_id}/asset (Huawei's DeleteAssets) through the official SDK
(`client.delete_assets`, with `HttpConfig.retry_times = 0`), and its errors."""

import time

from huaweicloudsdkvod.v1 import DeleteAssetsRequest

from vodsnap_helpers import assert_error, listed_task_ids, register, rid, signed


def test_sdk_delete_assets_answers_each_asset_in_order_and_hides_its_tasks(server, client_a):
    p, a, empty = server.proj_a, rid("a"), rid("none")
    tasks = [rid("t") for _ in range(3)]
    for t in tasks:
        register(server, p, a, t)
    assert listed_task_ids(server, p, asset_id=a) == tasks

    response = client_a.delete_assets(DeleteAssetsRequest(asset_id=[a, empty, a]))

    assert [(i.asset_id, i.status) for i in response.delete_result_array] == \
        [(a, "DELETED"), (empty, "DELETED")]
    assert listed_task_ids(server, p, asset_id=a) == []
    # A registration while the purge runs is a 409; once it is done, the asset starts afresh.
    deadline = time.time() + 20
    while True:
        r = signed(server, "GET", f"/v1/{p}/asset/purges", query=[("asset_id", a)])
        assert r.status_code == 200, r.text
        if r.json()["state"] == "PURGED" or time.time() > deadline:
            break
        time.sleep(0.1)
    body = r.json()
    assert body["state"] == "PURGED", body
    assert (body["tasks_total"], body["tasks_deleted"], body["objects_queued"]) == (3, 3, 6)
    fresh = rid("fresh")
    register(server, p, a, fresh)
    assert listed_task_ids(server, p, asset_id=a) == [fresh]


def test_another_projects_same_asset_is_untouched(server, client_a):
    a = rid("a")
    t = rid("t")
    register(server, server.proj_b, a, t)
    client_a.delete_assets(DeleteAssetsRequest(asset_id=[a]))
    assert listed_task_ids(server, server.proj_b, asset_id=a) == [t]
    r = signed(server, "GET", f"/v1/{server.proj_b}/asset/purges", query=[("asset_id", a)])
    assert_error(r, 404, "VOD.10062")


def test_bad_calls_are_400_and_bad_credentials_401(server):
    p = server.proj_a
    for query in ([], [("asset_id", "a/b")], [("asset_id", "a"), ("delete_type", "origin")],
                  [("asset_id", f"a{i}") for i in range(11)]):
        r = signed(server, "DELETE", f"/v1.0/{p}/asset", query=query)
        assert_error(r, 400, "VOD.10053")
    r = signed(server, "DELETE", f"/v1.0/{p}/asset", query=[("asset_id", "a")], sk="wrong-secret")
    assert_error(r, 401, "APIGW.0301")
