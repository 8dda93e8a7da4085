"""The reservation benchmark's small version (bench/reservation.py): each row's user really
holds the uploads in flight it names, and the table prints every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import reservation
from catalog.database import Catalog
from catalog.tables import utcnow
from catalog.uploads import uploads_in_flight


def test_each_row_times_reservations_with_its_uploads_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[int] = []
    dispose = Catalog.dispose

    def count_then_dispose(catalog: Catalog) -> None:
        with catalog.session() as session:
            counted.append(uploads_in_flight(session, reservation.USER, utcnow()))
        dispose(catalog)

    monkeypatch.setattr(Catalog, "dispose", count_then_dispose)
    assert reservation.median_reservation_ms(tmp_path, 7, 3) > 0
    assert counted == [7]  # the timed reservations were released: the count stayed put


def test_the_table_has_a_row_per_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["reservation", "--in-flight", "0,5", "--runs", "3"])
        assert reservation.main() == 0
    printed = capsys.readouterr().out
    assert "1.00x" in printed and "│                 5 │" in printed
