"""Plain transfer code: ranged parts read in order within their window, transfer-manager
settings within S3's part limit."""

from __future__ import annotations

import threading
import time

from blocks import transfers
from blocks.objects import MAX_PARTS

MiB = 1024**2


def test_ordered_parts_hold_at_most_the_window_while_the_first_part_is_slow() -> None:
    first_part_may_finish = threading.Event()
    fetched: list[int] = []

    def fetch(first: int, last: int) -> bytes:
        if first == 0:
            assert first_part_may_finish.wait(10)
        fetched.append(first)
        return bytes([first // 10]) * (last - first + 1)

    parts = transfers.ordered_parts(fetch, size=200, part_size=10, window=4, threads=3)
    collected: list[bytes] = []
    reader = threading.Thread(target=lambda: collected.extend(parts))
    reader.start()
    time.sleep(0.5)
    assert sorted(fetched) == [10, 20, 30]  # parts 1..3 done and held; nothing more asked for
    first_part_may_finish.set()
    reader.join(10)
    assert b"".join(collected) == b"".join(bytes([i]) * 10 for i in range(20))


def test_part_size_grows_so_5_tib_fits_in_10000_parts() -> None:
    config = transfers.transfer_config(5 * 1024**4)
    assert config.multipart_chunksize * MAX_PARTS >= 5 * 1024**4
    assert transfers.transfer_config(MiB).multipart_chunksize == 16 * MiB
