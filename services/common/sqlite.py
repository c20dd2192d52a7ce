"""SQLite for the services: one short-lived connection per operation, explicit transactions.

Why a connection per operation rather than one long-lived connection on a dedicated thread:
the database file is shared by several processes (a service, its worker processes, a second
replica), so a writer may have to wait for the lock (`busy_timeout`). With one connection on
one thread, every other read and write of the process would queue behind that wait. With a
connection per operation, each runs in its own thread (`asyncio.to_thread`), WAL lets readers
go on beside the writer, and no connection is ever shared between threads. Opening a
connection costs tens of microseconds, small next to a gRPC call.

Store methods are synchronous (`with db.transaction() as conn: ...`); servicers and workers call
them with `asyncio.to_thread`, so the event loop never blocks:

- `transaction(immediate=True)` issues `BEGIN IMMEDIATE`, taking the write lock up front so
  read-then-write sequences (claims, fenced completions, idempotent inserts) cannot interleave
  with another writer;
- `transaction()` is a deferred (read) transaction: one consistent snapshot.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 10.0


# (table, column, declaration): a column added to a table after files with that table existed.
AddedColumn = tuple[str, str, str]


class Database:
    """A SQLite file with its schema; `initialise()` once at start-up, then `transaction()` per operation.

    `added_columns` are columns that `schema` already declares for new files but that files created
    before lack: `initialise` adds whichever are missing (`ALTER TABLE ... ADD COLUMN`), so an
    existing database keeps working. Only nullable columns or columns with a default can be added.
    """

    def __init__(
        self,
        path: Path | str,
        schema: str,
        busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS,
        added_columns: Iterable[AddedColumn] = (),
    ) -> None:
        self.path = Path(path)
        self._schema = schema
        self._busy_timeout = busy_timeout_seconds
        self._added_columns = tuple(added_columns)

    def initialise(self) -> None:
        """Create the directory, switch to WAL, create the schema and add missing columns (idempotent, safe
        to race: all of it in one write transaction)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            # journal_mode is persistent in the file; setting it again is a no-op.
            connection.execute("PRAGMA journal_mode = WAL")
            # executescript leaves the transaction it began open: the columns join it.
            connection.executescript(f"BEGIN IMMEDIATE;\n{self._schema}")
            for table, column, declaration in self._added_columns:
                present = {row["name"] for row in connection.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            connection.execute("COMMIT")
        finally:
            connection.close()  # rolls back whatever was not committed

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction: committed on success, rolled back on any exception."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield connection
            except BaseException:
                # SQLite may already have rolled back (e.g. on SQLITE_FULL); don't mask the error.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we issue BEGIN/COMMIT ourselves.
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = ON")
        return connection
