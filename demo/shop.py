"""An example orders database for the sqlite plugin: ``python demo/shop.py PATH``.

The README's examples and the demo (``demo.py``) read it through the sqlite plugin; the
support agent's scripted conversation (``support.jsonl``) asks about order 42. Running it
again on the same file changes nothing: the table is created if missing and the example
orders are written over themselves, so other rows in an existing file are left alone.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

ORDERS = [
    (41, "bob@example.com", "processing", None, None, 12.0),
    (42, "ada@example.com", "shipped", "PostCo", "https://track.postco.example/42", 99.5),
]
"""id, customer, status, carrier, tracking_url, total."""


def make_shop(database: Path) -> Path:
    """Create (or refresh) the ``orders`` table at ``database``, making its folder."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(database)) as db, db:
        db.execute(
            "create table if not exists orders (id integer primary key, customer text, "
            "status text, carrier text, tracking_url text, total real)"
        )
        db.executemany("insert or replace into orders values (?, ?, ?, ?, ?, ?)", ORDERS)
    return database


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python demo/shop.py PATH  (e.g. ~/shop/orders.db)\n")
        return 2
    database = make_shop(Path(argv[0]).expanduser().resolve())
    print(f"wrote {len(ORDERS)} example orders to {database}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
