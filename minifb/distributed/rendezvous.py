"""Sharing NCCL's unique id: rank 0 draws it, every other rank receives it, before NCCL starts.

Two ways, both from the standard library, chosen by the address:

- ``tcp://HOST:PORT``: rank 0 listens on HOST:PORT and hands the id to each rank that connects
  (the others retry until rank 0 is up); the launcher uses a free port on 127.0.0.1;
- ``file://PATH``: rank 0 writes the id to PATH (atomically; PATH must not exist yet, so that an
  old id is never read) and the others wait for the file; PATH must be on a folder all ranks see.

The id is NCCL's 128 bytes (CuPy gives them as signed ints); a rank also sends the world size it
was started with, and rank 0 refuses a rank that disagrees.
"""
from __future__ import annotations

import os
import socket
import time
import urllib.parse

from ..atomic_file import atomic_write
from .process_group import ProcessGroup

ID_BYTES = 128
TIMEOUT = 300.0  # seconds that ranks wait for each other (loading data on rank 0 can take a while)


def encode(unique_id) -> bytes:
    """CuPy's id (a tuple of ints in -128..127) as bytes."""
    if len(unique_id) != ID_BYTES or not all(-128 <= v < 256 for v in unique_id):
        raise ValueError(f"rendezvous: expected NCCL's {ID_BYTES}-byte unique id, "
                         f"got {len(unique_id)} values")
    return bytes(v & 0xFF for v in unique_id)


def decode(payload: bytes) -> tuple:
    """The tuple of signed ints that ``cupy.cuda.nccl.NcclCommunicator`` takes."""
    if len(payload) != ID_BYTES:
        raise ValueError(f"rendezvous: expected {ID_BYTES} bytes of unique id, got {len(payload)}")
    return tuple(b - 256 if b >= 128 else b for b in payload)


def share_unique_id(group: ProcessGroup, address: str, make_id, timeout: float = TIMEOUT) -> tuple:
    """The id that rank 0 drew with ``make_id()``, on every rank of ``group``."""
    parsed = urllib.parse.urlparse(address)
    if parsed.scheme == "tcp" and parsed.hostname and parsed.port:
        serve, fetch = _serve_tcp, _fetch_tcp
        where = (parsed.hostname, parsed.port)
    elif parsed.scheme == "file" and (parsed.netloc + parsed.path):
        serve, fetch = _write_file, _read_file
        where = parsed.netloc + parsed.path
    else:
        raise ValueError(f"share_unique_id: address must be tcp://HOST:PORT or file://PATH, got {address!r}")
    if group.world_size == 1:
        return make_id()
    if group.is_main:
        unique_id = make_id()
        serve(where, encode(unique_id), group, timeout)
        return unique_id
    return decode(fetch(where, group, timeout))


def _serve_tcp(where, payload: bytes, group: ProcessGroup, timeout: float) -> None:
    with socket.create_server(where, backlog=group.world_size) as server:
        server.settimeout(timeout)
        for _ in range(group.world_size - 1):
            try:
                connection, _ = server.accept()
            except TimeoutError:
                raise RuntimeError(f"share_unique_id: rank 0 waited {timeout:g} s on {where[0]}:{where[1]} "
                                   "for the other ranks") from None
            with connection:
                connection.settimeout(timeout)
                world = int(_receive_line(connection))
                if world != group.world_size:
                    connection.sendall(b"\0" * ID_BYTES)  # the rank fails on its side too
                    raise RuntimeError(f"share_unique_id: a rank started with world size {world} joined "
                                       f"rank 0's group of {group.world_size}")
                connection.sendall(payload)


def _fetch_tcp(where, group: ProcessGroup, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = socket.create_connection(where, timeout=timeout)
            break
        except OSError:  # rank 0 is not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"share_unique_id: rank {group.rank} found no rank 0 on "
                                   f"{where[0]}:{where[1]} within {timeout:g} s") from None
            time.sleep(0.2)
    with connection:
        connection.sendall(f"{group.world_size}\n".encode())
        payload = b""
        while len(payload) < ID_BYTES:
            chunk = connection.recv(ID_BYTES - len(payload))
            if not chunk:
                raise RuntimeError(f"share_unique_id: rank 0 closed the connection after "
                                   f"{len(payload)} bytes")
            payload += chunk
    if payload == b"\0" * ID_BYTES:
        raise RuntimeError(f"share_unique_id: rank 0 refused rank {group.rank} "
                           f"(world size {group.world_size})")
    return payload


def _receive_line(connection) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = connection.recv(64)
        if not chunk or len(line) > 64:
            raise RuntimeError("share_unique_id: a rank sent no world size")
        line += chunk
    return line.strip()


def _write_file(path: str, payload: bytes, group: ProcessGroup, timeout: float) -> None:
    if os.path.exists(path):
        raise RuntimeError(f"share_unique_id: {path} already exists (an earlier run's id?); "
                           "give every run a new file")
    with atomic_write(path, "share_unique_id") as f:
        f.write(payload)


def _read_file(path: str, group: ProcessGroup, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):  # appears whole: rank 0 renames it into place
        if time.monotonic() > deadline:
            raise RuntimeError(f"share_unique_id: rank {group.rank} waited {timeout:g} s for {path}")
        time.sleep(0.1)
    with open(path, "rb") as f:
        return f.read()
