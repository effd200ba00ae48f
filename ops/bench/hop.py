"""What one process hop costs on this machine: a blocking request/answer round trip over
loopback TCP between two processes that sleep between messages, as our processes do
when they are not saturated.

A message crosses several such hops (worker → gateway → Data API → PostgreSQL and back,
the WAL stream, Realtime → gateway → workers), so this number explains much of the CPU
per message: on a virtual machine, waking a sleeping process costs far more than on
bare metal. `python -m ops.bench.hop --port P` is the echo side.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from typing import Any

import psutil  # type: ignore[import-untyped]

from ops.bench.processes import Processes, start_listener

MESSAGE = b"x" * 200  # about the size of a chat frame


def _echo(port: int) -> None:
    with socket.create_server(("127.0.0.1", port)) as server:
        print(f"listening on {port}", flush=True)
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                conn.sendall(data)


def _ping_pong(port: int, seconds: float) -> tuple[int, float, float]:
    """Round trips done, wall seconds, CPU seconds of this thread."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        count, cpu0, t0 = 0, time.thread_time(), time.perf_counter()
        deadline = t0 + seconds
        while time.perf_counter() < deadline:
            for _ in range(100):
                sock.sendall(MESSAGE)
                got = 0
                while got < len(MESSAGE):
                    got += len(sock.recv(65536))
            count += 100
        return count, time.perf_counter() - t0, time.thread_time() - cpu0


async def round_trip(procs: Processes, seconds: float) -> dict[str, Any]:
    started, port = await start_listener(procs, "hop_echo", "ops.bench.hop")
    try:
        echo = psutil.Process(started.pid)
        echo_cpu0 = sum(echo.cpu_times()[:2])
        count, wall, cpu = await asyncio.to_thread(_ping_pong, int(port), seconds)
        echo_cpu = sum(echo.cpu_times()[:2]) - echo_cpu0
    finally:
        procs.stop(started)
    return {
        "round_trips": count,
        "wall_us": round(wall / count * 1e6, 1),
        "cpu_us": round((cpu + echo_cpu) / count * 1e6, 1),  # both sides
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    _echo(parser.parse_args().port)
