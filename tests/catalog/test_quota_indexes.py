"""The quota's sums, which every upload-url runs under the user's lock, read their indexes
alone (migration 0007): no row of the tables, whose rows of many users lie interleaved. With a
lookup in the table per row summed, the reservation took 0.19 ms at no upload and 0.76 ms once
32 users had 16,000 (docs/benchmarks.md, "Round 8"). The uploads are read by status, so the
user's closed uploads, which stay in the table, cost nothing."""

from __future__ import annotations

import sqlalchemy as sa

from catalog.database import Catalog
from catalog.uploads import _INSERT_UPLOAD_IF_ROOM
from catalog.usage import stored_sum


def query_plan(catalog: Catalog, statement: sa.ClauseElement) -> list[str]:
    """SQLite's plan for `statement`, one line per step."""
    compiled = statement.compile(catalog.engine)
    sql = str(compiled)
    with catalog.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", tuple([None] * sql.count("?"))
        ).all()
    return [row[-1] for row in rows]


def test_the_reservations_check_reads_only_indexes(sqlite_catalog: Catalog) -> None:
    steps = query_plan(sqlite_catalog, _INSERT_UPLOAD_IF_ROOM)
    searches = [step for step in steps if step.startswith(("SEARCH", "SCAN"))]
    assert any("uploads USING COVERING INDEX ix_uploads_user_reservations" in s for s in searches)
    assert any(
        "stored_objects USING COVERING INDEX ix_stored_objects_user_sizes" in s for s in searches
    )
    assert all("COVERING INDEX" in s or s == "SCAN CONSTANT ROW" for s in searches), steps
    # Ranges by status, never every upload the user ever had (closed ones are never deleted).
    uploads = [s for s in searches if "uploads USING" in s]
    assert uploads and all("status=?" in s for s in uploads), steps


def test_the_stored_sum_reads_only_its_index(sqlite_catalog: Catalog) -> None:
    steps = query_plan(sqlite_catalog, sa.select(stored_sum(sa.bindparam("user_id"))))
    assert any("USING COVERING INDEX ix_stored_objects_user_sizes" in step for step in steps), steps
