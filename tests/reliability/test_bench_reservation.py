"""The reservation benchmark's small version (bench/reservation.py): each row's user really
holds the uploads in flight it names, and the table prints every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import reservation
from catalog.database import Catalog
from catalog.in_flight import uploads_in_flight
from catalog.tables import utcnow


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
    assert reservation.median_reservation_ms(tmp_path, 7, 3, closed=5) > 0
    assert counted == [7]  # the closed ones and the timed ones were released: 7 stay


def test_the_table_has_a_row_per_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        argv = ["reservation", "--in-flight", "0,5", "--closed", "4", "--runs", "3"]
        patch.setattr("sys.argv", argv)
        assert reservation.main() == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.endswith("x │")]
    cells = [[cell.strip() for cell in row.strip("│ ").split("│")][:2] for row in rows]
    assert cells == [["0", "0"], ["5", "0"], ["0", "4"]]
