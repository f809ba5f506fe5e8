"""A local OpenAI-compatible endpoint over real HTTP, for the real `openai` client.

It fakes only the LLM, which is truly outside: chat completions (plain and
streamed) answer from what the request holds, deterministically, and every
request is recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOPICS = ["stub topic alpha", "stub topic beta", "stub topic gamma"]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up (the openai client, retrying) is no error of the
        # stub's; and the stub's traceback must not land in a CLI's captured stderr.
        pass


class Stub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False  # answer 500 to everything
        self.rate_limit = 0  # answer 429 (Retry-After: 1) to this many embeddings requests
        self.url = ""

    def answer_for(self, body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if "extract topics" in system:
            return json.dumps(TOPICS)
        labels = re.findall(r"^\[([^\]\n]+)\]$", user, flags=re.MULTILINE)
        return f"The sources say so [{labels[0]}]." if labels else "I do not know."


@contextmanager
def serve() -> Iterator[Stub]:
    stub = Stub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            stub.requests.append({"path": self.path, "body": body})
            if self.path.endswith("/embeddings") and not stub.fail:
                if stub.rate_limit > 0:
                    stub.rate_limit -= 1
                    self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
                else:
                    self._send(200, _embeddings(body["model"], body["input"]))
                return
            if stub.fail or not self.path.endswith("/chat/completions"):
                self._send(500 if stub.fail else 404, {"error": {"message": "stub says no"}})
                return
            text = stub.answer_for(body)
            if body.get("stream"):
                self._stream(body["model"], text)
            else:
                self._send(200, _completion(body["model"], text))

        def _send(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, model: str, text: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for word in re.findall(r"\S+\s*", text):
                chunk = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield stub
    finally:
        server.shutdown()


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


DIMENSION = 64


def _vector(text: str) -> list[float]:
    """A bag of hashed words: texts sharing words point the same way."""
    vec = [0.0] * DIMENSION
    for word in re.findall(r"\w+", text.lower()):
        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
    return vec


def _embeddings(model: str, inputs: Any) -> dict[str, Any]:
    texts = [inputs] if isinstance(inputs, str) else inputs
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": _vector(t)}
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
