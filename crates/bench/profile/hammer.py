"""Sends N sequential GETs on one keep-alive connection (the load of
`callgrind.sh`): `hammer.py PORT TARGET N token TOKEN` or
`hammer.py PORT TARGET N aksk AK SK` (signed once with the Huawei SDK's own
Signer, then replayed: the server accepts a signature for 15 minutes) or
`hammer.py PORT TARGET N none`. Exits non-zero on any answer but 200."""

import http.client
import sys
from urllib.parse import parse_qsl, urlsplit


def headers_for(port: int, target: str, auth: list[str]) -> dict[str, str]:
    if auth[0] == "token":
        return {"X-Auth-Token": auth[1]}
    if auth[0] == "aksk":
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.sdk_request import SdkRequest
        from huaweicloudsdkcore.signer.signer import Signer

        url = urlsplit(target)
        request = SdkRequest(method="GET", schema="http", host=f"127.0.0.1:{port}",
                             resource_path=url.path, query_params=parse_qsl(url.query),
                             header_params={}, body="")
        Signer(BasicCredentials(auth[1], auth[2])).sign(request)
        return dict(request.header_params)
    return {}


def main() -> None:
    port, target, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    headers = headers_for(port, target, sys.argv[4:])
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"{target}: {response.status} {body[:300]!r}")


if __name__ == "__main__":
    main()
