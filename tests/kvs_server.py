"""A stand-in for CloudFront KeyValueStore's data plane (`cloudfront-keyvaluestore`) on 127.0.0.1.

moto has no such service. This serves the operations a move uses, in the REST-JSON shapes of
botocore's service model: `DescribeKeyValueStore` (GET /key-value-stores/{arn}, the store's ETag in
the `ETag` header), `GetKey` (GET …/keys/{key}; a missing key is a 404 `ResourceNotFoundException`),
`PutKey` (PUT …/keys/{key} with `If-Match`; a missing header is a 400 `ValidationException`, a stale
ETag a 409 `ConflictException`, and every write gives the whole store a new ETag, as the service
does), and `DeleteKey`. It records each request's signing algorithm, so a test can assert SigV4A.

The endpoint rules put the ARN's account id in front of the host (`<account>.<endpoint host>`),
which a loopback address cannot resolve: `route_to` registers a botocore hook that sends the
signed request to the stand-in itself.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass
class Store:
    items: dict[str, str] = field(default_factory=dict)
    etag: str = "E0"


@dataclass
class KvsState:
    stores: dict[str, Store] = field(default_factory=dict)
    #: The `Authorization` algorithm of each request, in order.
    algorithms: list[str] = field(default_factory=list)
    #: (method, key) of each request, in order.
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    #: Fail the next N PutKey calls with a 409, as if another writer changed the store in between.
    conflicts: int = 0
    _tags: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.stores.clear()
            self.algorithms.clear()
            self.calls.clear()
            self.conflicts = 0

    def bump(self, store: Store) -> None:
        store.etag = f"E{next(self._tags)}"


class _Handler(BaseHTTPRequestHandler):
    state: KvsState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"Message": message}, {"x-amzn-ErrorType": code})

    def _route(self) -> tuple[Store | None, str, str | None]:
        path = urlsplit(self.path).path
        rest = path.removeprefix("/key-value-stores/")
        arn, _, key = rest.partition("/keys/")
        arn = unquote(arn)
        return self.state.stores.get(arn), arn, unquote(key) if key else None

    def _handle(self, method: str) -> None:
        state = self.state
        auth = self.headers.get("Authorization", "")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with state.lock:
            state.algorithms.append(auth.split(" ", 1)[0])
            store, arn, key = self._route()
            state.calls.append((method, key))
            if store is None:
                return self._error(404, "ResourceNotFoundException", f"key value store {arn} not found")
            if key is None and method == "GET":
                return self._send(
                    200,
                    {"KvsARN": arn, "ItemCount": len(store.items), "TotalSizeInBytes": 0, "Status": "READY"},
                    {"ETag": store.etag},
                )
            if key is None:
                return self._error(400, "ValidationException", f"no route for {method} {self.path}")
            if method == "GET":
                if key not in store.items:
                    return self._error(404, "ResourceNotFoundException", f"key {key} not found")
                return self._send(200, {"Key": key, "Value": store.items[key], "ItemCount": len(store.items)})
            if_match = self.headers.get("If-Match")
            if not if_match:
                return self._error(400, "ValidationException", "If-Match is required")
            if state.conflicts > 0:
                state.conflicts -= 1
                state.bump(store)
            if if_match != store.etag:
                return self._error(409, "ConflictException", "the If-Match ETag is not the store's current one")
            if method == "PUT":
                store.items[key] = json.loads(body)["Value"]
            else:
                store.items.pop(key, None)
            state.bump(store)
            return self._send(200, {"ItemCount": len(store.items), "TotalSizeInBytes": 0}, {"ETag": store.etag})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class KvsServer:
    def __init__(self) -> None:
        self.state = KvsState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KvsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def route_to(self, client: Any) -> Any:
        """Send `client`'s signed requests here, whatever host the endpoint rules gave them."""
        target = urlsplit(self.endpoint)

        def redirect(request: Any, **_: Any) -> None:
            parts = urlsplit(request.url)
            request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))

        client.meta.events.register("before-send.cloudfront-keyvaluestore", redirect)
        return client
