"""A minimal viser websocket client for tests: receives and decodes what a browser would.

Server -> client frames (viser's hybrid wire format): two little-endian uint64
(msgpack size, compressed size), the zstd-compressed msgpack of
``{"messages": [...], "binaryBufferLengths": [...]}``, then the binary buffers,
each 8-byte aligned; arrays in messages are ``{"__binary_index", "dtype"}``
placeholders. Client -> server: one msgpack-encoded message dict.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import numpy as np
import zstandard
from websockets.sync.client import connect


def _fill(value: Any, buffers: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        if "__binary_index" in value and "dtype" in value:
            return buffers[value["__binary_index"]].view(np.dtype(value["dtype"]))
        return {k: _fill(v, buffers) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, buffers) for v in value]
    return value


def decode_frame(raw: bytes) -> list[dict[str, Any]]:
    size = int.from_bytes(raw[0:8], "little")
    csize = int.from_bytes(raw[8:16], "little")
    inner = msgspec.msgpack.decode(zstandard.ZstdDecompressor().decompress(raw[16:16 + csize], max_output_size=size))
    offset = 16 + csize
    buffers = []
    for length in inner.get("binaryBufferLengths", []):
        offset += (8 - offset % 8) % 8
        buffers.append(np.frombuffer(raw, dtype=np.uint8, count=length, offset=offset))
        offset += length
    return [_fill(m, buffers) for m in inner["messages"]]


class ViserClient:
    """Connects to a viser server and keeps every decoded message in ``messages``."""

    def __init__(self, port: int):
        import viser

        self.ws = connect(f"ws://127.0.0.1:{port}", subprotocols=[f"viser-v{viser.__version__}"], max_size=None,
                          open_timeout=20)
        self.messages: list[dict[str, Any]] = []
        self.send_camera()

    def send_camera(self) -> None:
        """What a browser sends first (viser counts a client as connected after its first camera message)."""
        from viser._messages import ViewerCameraMessage

        msg = ViewerCameraMessage(wxyz=(1.0, 0.0, 0.0, 0.0), position=(3.0, -3.0, 2.0), fov=1.3, near=0.01, far=1000.0,
                                  image_height=720, image_width=1280, look_at=(0.0, 0.0, 0.7), up_direction=(0.0, 0.0, 1.0))
        self.ws.send(msgspec.msgpack.encode(msg.as_serializable_dict()))

    def receive(self, seconds: float) -> list[dict[str, Any]]:
        """Messages received during the next ``seconds``."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                break
            if isinstance(raw, bytes):
                got += decode_frame(raw)
        self.messages += got
        return got

    def send_gui_update(self, uuid: str, **updates: Any) -> None:
        from viser._messages import GuiUpdateMessage

        self.ws.send(msgspec.msgpack.encode(GuiUpdateMessage(uuid, updates).as_serializable_dict()))

    def close(self) -> None:
        self.ws.close()
