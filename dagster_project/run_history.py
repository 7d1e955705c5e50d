"""Dagster's SQLite run history with its connections kept open (dagster.yaml: `storage: custom:`).

Dagster's SQLite event log creates a SQLAlchemy engine and opens a new SQLite connection for every
event it stores, and closes both after it (`SqliteEventLogStorage._connect`): two or three of each
per event, since an asset or check event is also copied into the cross-run index. A run of this
project stores ~1,500 events (a planned and a done event per dbt model and test); on 2 cores the
opening and closing alone cost seconds of every run (issue 14; the figures are in DECISIONLOG.md).

This storage is Dagster's own, with the same files in the same folders under DAGSTER_HOME (a run
history written by the default storage reads as before, and the other way round). Only the event
log differs: it keeps one engine, and so one open connection, per SQLite file it touches, for the
index and the few newest runs. Every use still goes through Dagster's lock and its own transaction,
so nothing holds a SQLite lock between events, and the webserver and the daemon read and write the
same files as before. Opened connections belong to the process that opened them (a forked process
opens its own). The events Dagster hands over as a batch (a new run's planned events, when
DAGSTER_EVENT_BATCH_SIZE is set, as Settings.export does) are written in one transaction per file.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# The index and the newest run files this process wrote or read; an older one is closed when a newer
# one is opened (a webserver browsing many runs must not hold a file handle for each).
_OPEN_FILES = 8


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, opening each file's connection once per process, not per event."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._engines_lock = threading.Lock()
        self._tables_present: set[str] = set()
        # (thread, connections by file) while store_event_batch holds the lock and its transactions
        self._batch: tuple[int, dict[str, Connection]] | None = None
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> KeptOpenSqliteEventLogStorage:  # ty: ignore[invalid-method-override]
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            if self._engines_pid != os.getpid():  # forked: the parent's connections are not ours
                self._engines = OrderedDict()
                self._engines_pid = os.getpid()
            engine = self._engines.get(shard)
            if engine is None:
                # One connection, used by one thread at a time: every use holds Dagster's _db_lock.
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=StaticPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                self._engines[shard] = engine
                while len(self._engines) > _OPEN_FILES:
                    self._engines.popitem(last=False)[1].dispose()
            else:
                self._engines.move_to_end(shard)
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's _connect without the engine's creation and disposal around each use.
        batch = self._batch
        if batch is not None and batch[0] == threading.get_ident():  # inside store_event_batch
            yield self._batch_connection(batch[1], shard)
            return
        with self._db_lock:
            with self._opened(shard).connect() as conn, conn.begin():
                yield conn

    def _opened(self, shard: str) -> Engine:
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    def _batch_connection(self, connections: dict[str, Connection], shard: str) -> Connection:
        if shard not in connections:
            conn = self._opened(shard).connect()
            conn.begin()
            connections[shard] = conn
        return connections[shard]

    def store_event_batch(self, events) -> None:
        """The events Dagster hands over as one batch (the planned events written when a run is created,
        one per asset and check: ~570 here) in one transaction per file instead of one per event. On
        an error nothing of the batch is kept, and Dagster stores the events one by one."""
        connections: dict[str, Connection] = {}
        with self._db_lock:
            self._batch = (threading.get_ident(), connections)
            try:
                for event in events:
                    self.store_event(event)
                for conn in connections.values():
                    conn.commit()
            except BaseException:
                for conn in connections.values():
                    conn.rollback()
                raise
            finally:
                self._batch = None
                for conn in connections.values():
                    conn.close()

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before each asset event whether the index has a table (opening a connection
        # each time); a table, once there, stays. A missing one is asked again (a migration adds it).
        if table_name not in self._tables_present and super().has_table(table_name):
            self._tables_present.add(table_name)
        return table_name in self._tables_present

    def close_connections(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()

    def wipe(self) -> None:
        self.close_connections()  # wipe deletes run files: no connection may outlive its file
        super().wipe()

    def dispose(self) -> None:
        self.close_connections()
        super().dispose()


class KeptOpenSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, event log, schedules under one base_dir) with the event log
    above. dagster.yaml: `storage: {custom: {module: dagster_project.run_history, class:
    KeptOpenSqliteStorage, config: {base_dir: {env: DAGSTER_HOME}}}}`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage.dispose()  # the default one Dagster's __init__ made, never used
        self._event_log_storage = KeptOpenSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value) -> KeptOpenSqliteStorage:  # ty: ignore[invalid-method-override]
        return cls.from_local(inst_data=inst_data, **config_value)
