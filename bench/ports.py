"""What the benchmark scripts share: free ports and comma-separated count options."""

from __future__ import annotations

import argparse
import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def positive_ints(text: str) -> list[int]:
    """An argparse type: "10,1" → [10, 1]; each at least 1."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"each value must be at least 1: {text!r}")
    return values
