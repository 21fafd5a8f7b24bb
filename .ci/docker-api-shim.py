#!/usr/bin/env python3
"""A Docker API version shim for old engines (issue 15).

testcontainers 0.27 (through bollard 0.20) speaks Docker API 1.52 and does
not negotiate: every request goes to /v1.52/... Debian bookworm's engine
(docker.io 20.10) speaks up to 1.41 and answers such requests with 400
"client version 1.52 is too new". This shim listens on a Unix socket, passes
every request to the engine's socket, and rewrites only the version in the
request line (/v1.NN/ with NN above the engine's to the engine's own). The
calls testcontainers makes (create, start, logs, inspect, pause, stop,
remove) have the same shape in both versions. Everything else, bodies,
answers, streams and upgraded connections, is copied byte for byte.

Usage: docker-api-shim.py LISTEN_SOCKET ENGINE_SOCKET MAX_MINOR (e.g. 41)
Standard library only; one thread pair per connection.
"""

import os
import re
import socket
import sys
import threading

VERSIONED = re.compile(rb"^([A-Z]+ )/v1\.(\d+)/")


def copy_raw(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Reader:
    """Buffered reads from the client socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def until(self, marker):
        while marker not in self.buf:
            if not self.fill():
                return None
        head, self.buf = self.buf.split(marker, 1)
        return head + marker

    def exactly(self, n, out):
        while n > 0:
            if not self.buf and not self.fill():
                return False
            part, self.buf = self.buf[:n], self.buf[n:]
            out.sendall(part)
            n -= len(part)
        return True


def requests(client, engine, max_minor):
    reader = Reader(client)
    try:
        while True:
            head = reader.until(b"\r\n\r\n")
            if head is None:
                break
            match = VERSIONED.match(head)
            if match and int(match.group(2)) > max_minor:
                head = VERSIONED.sub(
                    lambda m: m.group(1) + b"/v1.%d/" % max_minor, head, count=1
                )
            engine.sendall(head)
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                if b":" in line:
                    key, value = line.split(b":", 1)
                    headers[key.strip().lower()] = value.strip().lower()
            if b"upgrade" in headers or b"upgrade" in headers.get(b"connection", b""):
                engine.sendall(reader.buf)
                reader.buf = b""
                copy_raw(client, engine)
                return
            if headers.get(b"transfer-encoding") == b"chunked":
                while True:
                    size_line = reader.until(b"\r\n")
                    if size_line is None:
                        return
                    engine.sendall(size_line)
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        # Trailers (usually none) end with an empty line.
                        while True:
                            trailer = reader.until(b"\r\n")
                            if trailer is None:
                                return
                            engine.sendall(trailer)
                            if trailer == b"\r\n":
                                break
                        break
                    if not reader.exactly(size + 2, engine):
                        return
            elif b"content-length" in headers:
                if not reader.exactly(int(headers[b"content-length"]), engine):
                    return
    except (OSError, ValueError):
        pass
    finally:
        try:
            engine.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, engine_path, max_minor):
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        engine.connect(engine_path)
    except OSError:
        client.close()
        return
    back = threading.Thread(target=copy_raw, args=(engine, client), daemon=True)
    back.start()
    requests(client, engine, max_minor)
    back.join()
    client.close()
    engine.close()


def main():
    listen_path, engine_path, max_minor = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen_path)
    os.chmod(listen_path, 0o660)
    server.listen(64)
    while True:
        client, _ = server.accept()
        threading.Thread(
            target=serve, args=(client, engine_path, max_minor), daemon=True
        ).start()


if __name__ == "__main__":
    main()
