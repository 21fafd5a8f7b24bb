"""Snapshot links that open (issue 14), against the real binary on both stores.

`linked_server` runs without --public-base-url, on a file storage directory,
under a known --url-key: the details `url`s are vodsnap's own signed links.
The tests write the image files into that directory, as a producer uploads
to the storage, then read details with the Huawei SDK and fetch each url
with a plain HTTP client.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests

from huaweicloudsdkvod.v1 import DeleteThumbnailsRequest, ListThumbnailDetailsRequest
from vodsnap_helpers import SESSION, register, rid, vod_client


def _image(n: int) -> bytes:
    # A JPEG signature and distinct bytes per image.
    return b"\xff\xd8\xff\xe0" + f"snapshot {n} ".encode() * 20


def _upload(server, key: str, data: bytes):
    path = os.path.join(server.storage_dir, *key.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _registered_task(server, n: int = 3):
    """A live task of n snapshots whose images are in the storage."""
    p, a, t = server.proj_a, rid("a"), rid("t")
    register(server, p, a, t, n=n)
    images = {}
    for i in range(n):
        key = f"{p}/{a}/{t}/{i}.jpg"
        images[i * 10] = _image(i)
        _upload(server, key, images[i * 10])
    return p, a, t, images


def _details_urls(server, project, task):
    client = vod_client(server, server.ak1, server.sk1, project)
    details = client.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=task))
    return {x.offset: x.url for x in details.thumbnail_result}


def _sign(server, key: str, expires: int) -> str:
    message = f"vsl1\n{expires}\n{key}".encode()
    sig = hmac.new(server.url_key.encode(), message, hashlib.sha256).hexdigest()
    path = "/".join(quote(s, safe="") for s in key.split("/"))
    return f"{server.base_url}/snapshots/{path}?expires={expires}&sig={sig}"


def test_every_details_url_fetches_its_image(linked_server):
    p, a, t, images = _registered_task(linked_server)

    urls = _details_urls(linked_server, p, t)

    assert sorted(urls) == sorted(images)
    for offset, url in urls.items():
        assert url.startswith(f"{linked_server.base_url}/snapshots/{p}/{a}/{t}/"), url
        query = dict(parse_qsl(urlsplit(url).query))
        assert set(query) == {"expires", "sig"}, url
        # --url-ttl defaults to one hour, rounded up by at most a tenth.
        assert 3600 - 5 <= int(query["expires"]) - time.time() <= 3960, url
        r = SESSION.get(url, timeout=20)
        assert r.status_code == 200, r.text[:300]
        assert r.content == images[offset]
        assert r.headers["Content-Type"] == "image/jpeg"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        cache = r.headers["Cache-Control"]
        assert cache.startswith("private, max-age="), cache
        assert 0 < int(cache.split("=")[1]) <= int(query["expires"]) - time.time() + 1
        etag = r.headers["ETag"]
        again = SESSION.get(url, headers={"If-None-Match": etag}, timeout=20)
        assert again.status_code == 304
        assert again.content == b""


def test_an_altered_url_is_403(linked_server):
    p, a, t, _ = _registered_task(linked_server, n=2)
    urls = _details_urls(linked_server, p, t)
    url = urls[0]
    query = dict(parse_qsl(urlsplit(url).query))
    base = url.split("?")[0]
    sig = query["sig"]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    for altered in [
        f"{base}?expires={query['expires']}&sig={flipped}",                   # the signature
        f"{base}?expires={int(query['expires']) + 3600}&sig={sig}",           # a later expiry
        f"{urls[10].split('?')[0]}?expires={query['expires']}&sig={sig}",     # another image
        base,                                                                 # no proof at all
    ]:
        r = requests.get(altered, timeout=20)
        assert r.status_code == 403, (altered, r.text[:300])
        assert r.json()["error_code"] == "VODSNAP.0403"
        assert r.json()["request_id"] == r.headers["X-Request-Id"]


def test_an_expired_url_is_403(linked_server):
    p, a, t, _ = _registered_task(linked_server, n=1)
    key = f"{p}/{a}/{t}/0.jpg"
    # Correctly signed with the servers' key, but its expiry has passed.
    r = requests.get(_sign(linked_server, key, int(time.time()) - 1), timeout=20)
    assert r.status_code == 403, r.text[:300]
    assert "expired" in r.json()["error_msg"]
    # The same link with an expiry to come opens: only the expiry differs.
    r = requests.get(_sign(linked_server, key, int(time.time()) + 600), timeout=20)
    assert r.status_code == 200, r.text[:300]


def test_a_deleted_tasks_urls_are_404_at_once(linked_server):
    p, a, t, images = _registered_task(linked_server, n=2)
    urls = _details_urls(linked_server, p, t)
    assert all(SESSION.get(u, timeout=20).status_code == 200 for u in urls.values())
    client = vod_client(linked_server, linked_server.ak1, linked_server.sk1, p)

    client.delete_thumbnails(DeleteThumbnailsRequest(asset_id=a, task_id=[t]))

    for url in urls.values():
        r = requests.get(url, timeout=20)
        assert r.status_code == 404, r.text[:300]
        assert r.json()["error_code"] == "VOD.10062"


def test_another_projects_key_under_a_valid_signature_is_404(linked_server):
    # A key no live task references answers 404, signed or not.
    key = f"{linked_server.proj_c}/{rid('a')}/{rid('t')}/0.jpg"
    _upload(linked_server, key, _image(9))
    r = requests.get(_sign(linked_server, key, int(time.time()) + 600), timeout=20)
    assert r.status_code == 404


def test_the_plain_cdn_base_serves_nothing(server):
    # With --public-base-url, links are the CDN's: vodsnap serves no image.
    r = requests.get(f"{server.base_url}/snapshots/{server.proj_a}/a/t/0.jpg?expires=1&sig=00", timeout=20)
    assert r.status_code == 404
