"""The maintenance steps for each dialect of the monitoring database, with the rules and SQL they use.

`default_plan` picks the engine's steps; `shared.services.maintenance` runs and reports them. A step may
find more steps to run next (`Done.then`) or raise `StepSkipped` with the reason it has nothing to do.
- **PostgreSQL**: `VACUUM (ANALYZE)` of each monitoring table; dropping indexes left invalid by an
  interrupted `REINDEX ... CONCURRENTLY` (`*_ccnew`, `*_ccold`); then `REINDEX INDEX CONCURRENTLY` of the
  bloated B-tree indexes (at most `MAX_REINDEX`, the most wasteful first). An index is bloated when at least
  half of its pages and at least `MIN_WASTE_PAGES` pages (1 MiB) are waste: pages beyond those its entries
  need. The need is estimated from the statistics the vacuum just refreshed (`pg_class.reltuples` entries
  of `pg_stats.avg_width` key bytes, 8 bytes of tuple header, 8-byte aligned, a 4-byte line pointer, on
  8152-byte pages filled to the fill factor). When `pgstattuple` is installed and usable, an index the
  estimate finds bloated is measured before it is rebuilt (`pgstatindex`: leaf pages times leaf density
  over the fill factor, plus inner pages), which reads only those indexes.
- **SQLite**: `ANALYZE`, `PRAGMA optimize`, and `PRAGMA incremental_vacuum` when `auto_vacuum` is
  INCREMENTAL; otherwise that step is skipped with the reason and the free pages it leaves (a full VACUUM,
  which rewrites and locks the whole file, is never run).
- **SQL Server / Azure SQL**: indexes of at least `MSSQL_MIN_PAGES` pages are reorganized from 5 % to 30 %
  fragmentation and rebuilt above (`ONLINE = ON` where the engine edition allows it), then `UPDATE
  STATISTICS` of each table. The statements come from the pure functions below; SQL Server is not
  available to the tests.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection, Engine, bindparam, text

from shared.db.tables import metadata

log = logging.getLogger("mgrid.maintenance")
TABLES = tuple(table.name for table in metadata.sorted_tables)
MIN_WASTE_PAGES = 128
MAX_REINDEX = 5
BTREE_FILLFACTOR = 90
PAGE_BYTES = 8192
BTREE_USABLE_BYTES = 8192 - 24 - 16  #: page header and B-tree special space
MSSQL_MIN_PAGES = 1000
#: SERVERPROPERTY('EngineEdition') values whose edition can rebuild online: Enterprise (and Developer),
#: Azure SQL Database, Azure SQL Managed Instance.
ONLINE_EDITIONS = frozenset({3, 5, 8})


class StepSkipped(Exception):
    """Raised by a step that has nothing it may do; its message says why."""


@dataclass(frozen=True, slots=True)
class Done:
    """A step's outcome: what it did, and steps it found to do next."""

    detail: str
    then: tuple[Step, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    action: Callable[[Connection], Done]


def default_plan(engine: Engine) -> list[Step]:
    """The steps for the engine's dialect."""
    plans: dict[str, Callable[[], list[Step]]] = {
        "postgresql": _postgres_plan,
        "sqlite": _sqlite_plan,
        "mssql": _sql_server_plan,
    }
    return plans[engine.dialect.name]()


# PostgreSQL

_INVALID_LEFTOVERS = text(
    "SELECT i.relname FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid"
    " JOIN pg_class AS t ON t.oid = x.indrelid JOIN pg_namespace AS n ON n.oid = t.relnamespace"
    " WHERE n.nspname = current_schema() AND t.relname IN :tables AND NOT x.indisvalid"
    " AND i.relname ~ '_cc(new|old)[0-9]*$'"
).bindparams(bindparam("tables", expanding=True))
_INDEX_FACTS = text(
    "SELECT i.relname AS name, i.relpages AS pages, i.reltuples AS tuples, i.reloptions AS options,"
    " (SELECT sum(COALESCE(s.avg_width, 8)) FROM pg_attribute AS a LEFT JOIN pg_stats AS s"
    "   ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname"
    "   WHERE a.attrelid = t.oid AND a.attnum = ANY (x.indkey)) AS key_bytes"
    " FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS t ON t.oid = x.indrelid"
    " JOIN pg_namespace AS n ON n.oid = t.relnamespace JOIN pg_am AS am ON am.oid = i.relam"
    " WHERE n.nspname = current_schema() AND t.relname IN :tables AND am.amname = 'btree' AND x.indisvalid"
).bindparams(bindparam("tables", expanding=True))
_RELATION_SIZE = text("SELECT pg_relation_size(CAST(:index AS regclass))")
_PGSTATINDEX_USABLE = text(
    "SELECT has_function_privilege(f, 'EXECUTE') FROM to_regprocedure('pgstatindex(regclass)') AS f"
    " WHERE f IS NOT NULL"
)
_PGSTATINDEX = text(
    "SELECT leaf_pages, internal_pages, avg_leaf_density FROM pgstatindex(CAST(:index AS regclass))"
)


def _postgres_plan() -> list[Step]:
    vacuums = [Step(f"vacuum analyze {table}", partial(_vacuum, table)) for table in TABLES]
    return [
        *vacuums,
        Step("drop invalid index leftovers", _drop_leftovers),
        Step("find bloated indexes", _find_bloated),
    ]


def _vacuum(table: str, connection: Connection) -> Done:
    connection.exec_driver_sql(f"VACUUM (ANALYZE) {_quoted(connection, table)}")
    return Done("vacuumed and analyzed")


def _drop_leftovers(connection: Connection) -> Done:
    names = list(connection.execute(_INVALID_LEFTOVERS, {"tables": list(TABLES)}).scalars())
    for name in names:
        connection.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {_quoted(connection, name)}")
    return Done(f"dropped {', '.join(names)}" if names else "none found")


def _find_bloated(connection: Connection) -> Done:
    confirm = bool(connection.scalar(_PGSTATINDEX_USABLE))
    wasteful: list[tuple[int, str, str]] = []
    facts = connection.execute(_INDEX_FACTS, {"tables": list(TABLES)}).mappings().all()
    for row in facts:
        pages, fillfactor = int(row["pages"]), _fillfactor(row["options"])
        if pages < MIN_WASTE_PAGES or row["tuples"] < 0:
            continue
        needed = estimated_pages(row["tuples"], row["key_bytes"] or 8, fillfactor)
        if confirm and bloated(pages, needed):
            stats = connection.execute(_PGSTATINDEX, {"index": _quoted(connection, row["name"])}).one()
            density = 0.0 if math.isnan(stats.avg_leaf_density) else stats.avg_leaf_density
            needed = measured_pages(stats.leaf_pages, stats.internal_pages, density, fillfactor)
        if bloated(pages, needed):
            wasteful.append((pages - needed, row["name"], f"{row['name']} ({pages} pages, ~{needed} needed)"))
    wasteful.sort(reverse=True)
    chosen = wasteful[:MAX_REINDEX]
    how = "estimated, confirmed by pgstatindex" if confirm else "estimated from statistics"
    found = ", ".join(described for _, _, described in chosen) or "none"
    detail = f"{len(wasteful)} of {len(facts)} B-tree indexes bloated ({how}): {found}"
    return Done(detail, tuple(Step(f"reindex {name}", partial(_reindex, name)) for _, name, _ in chosen))


def _reindex(name: str, connection: Connection) -> Done:
    quoted = _quoted(connection, name)
    before = connection.scalar(_RELATION_SIZE, {"index": quoted})
    try:
        connection.exec_driver_sql(f"REINDEX INDEX CONCURRENTLY {quoted}")
    except Exception:
        try:
            _drop_leftovers(connection)  # an interrupted rebuild leaves an invalid copy behind
        except Exception:
            log.exception("invalid copy of %s not dropped; the next run's leftover step drops it", name)
        raise
    after = connection.scalar(_RELATION_SIZE, {"index": quoted})
    return Done(f"{int(before) // PAGE_BYTES} -> {int(after) // PAGE_BYTES} pages")


def estimated_pages(tuples: float, key_bytes: float, fillfactor: int = BTREE_FILLFACTOR) -> int:
    """Pages a freshly built B-tree of `tuples` entries with `key_bytes` of key needs (leaves and meta)."""
    entry = 8 * math.ceil((8 + key_bytes) / 8) + 4
    per_page = BTREE_USABLE_BYTES * fillfactor / 100
    return math.ceil(max(tuples, 0) * entry / per_page) + 1


def measured_pages(leaf_pages: int, internal_pages: int, density_pct: float, fillfactor: int) -> int:
    """Pages needed by the live entries `pgstatindex` found, repacked at the fill factor."""
    return math.ceil(leaf_pages * density_pct / fillfactor) + internal_pages + 1


def bloated(pages: int, needed: int) -> bool:
    """At least half of the index, and at least MIN_WASTE_PAGES pages, is waste."""
    waste = pages - needed
    return waste >= MIN_WASTE_PAGES and 2 * waste >= pages


def _fillfactor(options: list[str] | None) -> int:
    for option in options or []:
        key, _, value = option.partition("=")
        if key == "fillfactor":
            return int(value)
    return BTREE_FILLFACTOR


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


# SQLite

_AUTO_VACUUM = {0: "NONE", 1: "FULL", 2: "INCREMENTAL"}


def _sqlite_plan() -> list[Step]:
    return [
        Step("analyze", partial(_sqlite_statement, "ANALYZE")),
        Step("pragma optimize", partial(_sqlite_statement, "PRAGMA optimize")),
        Step("incremental vacuum", _incremental_vacuum),
    ]


def _sqlite_statement(statement: str, connection: Connection) -> Done:
    connection.exec_driver_sql(statement)
    return Done("done")


def _incremental_vacuum(connection: Connection) -> Done:
    raw = sqlite_connection(connection)

    def pragma(name: str) -> int:
        return int(raw.execute(f"PRAGMA {name}").fetchone()[0])

    mode, free, page = pragma("auto_vacuum"), pragma("freelist_count"), pragma("page_size")
    if mode != 2:
        raise StepSkipped(
            f"auto_vacuum is {_AUTO_VACUUM.get(mode, mode)}, not INCREMENTAL: {free} free pages"
            f" ({free * page / 2**20:.1f} MiB) stay in the file; only a full VACUUM (not run: it rewrites"
            " and locks the whole file) would return them"
        )
    # executescript steps the pragma to its end; execute() would free a single page.
    raw.executescript("PRAGMA incremental_vacuum")
    freed = free - pragma("freelist_count")
    return Done(f"freed {freed} pages ({freed * page / 2**20:.1f} MiB)")


def sqlite_connection(connection: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under `connection`: its pragmas and progress handler are not SQLAlchemy's."""
    raw = connection.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"expected a sqlite3 connection, got {type(raw).__name__}")
    return raw


# SQL Server

FRAGMENTATION_SQL = text(
    "SELECT t.name AS table_name, i.name AS index_name, ps.avg_fragmentation_in_percent AS fragmentation,"
    " ps.page_count AS pages"
    " FROM sys.dm_db_index_physical_stats(DB_ID(), NULL, NULL, NULL, 'LIMITED') AS ps"
    " JOIN sys.indexes AS i ON i.object_id = ps.object_id AND i.index_id = ps.index_id"
    " JOIN sys.tables AS t ON t.object_id = i.object_id"
    " WHERE ps.index_id > 0 AND ps.alloc_unit_type_desc = 'IN_ROW_DATA' AND t.schema_id = SCHEMA_ID()"
    " AND t.name IN :tables AND ps.page_count >= :min_pages"
).bindparams(bindparam("tables", expanding=True))
EDITION_SQL = text("SELECT CAST(SERVERPROPERTY('EngineEdition') AS int)")


def _sql_server_plan() -> list[Step]:
    statistics = [
        Step(f"update statistics {table}", partial(_sql_server_statement, statistics_statement(table)))
        for table in TABLES
    ]
    return [Step("find fragmented indexes", _find_fragmented), *statistics]


def _find_fragmented(connection: Connection) -> Done:
    online = online_rebuild_allowed(int(connection.scalar(EDITION_SQL) or 0))
    rows = connection.execute(FRAGMENTATION_SQL, {"tables": list(TABLES), "min_pages": MSSQL_MIN_PAGES})
    steps = index_steps([(r.table_name, r.index_name, float(r.fragmentation)) for r in rows], online=online)
    return Done(f"{len(steps)} indexes to defragment (online rebuild: {online})", steps)


def index_steps(fragments: list[tuple[str, str, float]], *, online: bool) -> tuple[Step, ...]:
    """A step per (table, index, fragmentation %) that needs work."""
    steps = []
    for table, index, fragmentation in fragments:
        action = index_action(fragmentation)
        if action is not None:
            statement = index_statement(table, index, action, online=online)
            steps.append(Step(f"{action} {index}", partial(_sql_server_statement, statement)))
    return tuple(steps)


def index_action(fragmentation_pct: float) -> str | None:
    """`reorganize` from 5 % to 30 % fragmentation, `rebuild` above, else nothing."""
    if fragmentation_pct > 30:
        return "rebuild"
    return "reorganize" if fragmentation_pct >= 5 else None


def online_rebuild_allowed(engine_edition: int) -> bool:
    return engine_edition in ONLINE_EDITIONS


def index_statement(table: str, index: str, action: str, *, online: bool) -> str:
    statement = f"ALTER INDEX {_bracketed(index)} ON {_bracketed(table)} {action.upper()}"
    return statement + " WITH (ONLINE = ON)" if action == "rebuild" and online else statement


def statistics_statement(table: str) -> str:
    return f"UPDATE STATISTICS {_bracketed(table)}"


def _sql_server_statement(statement: str, connection: Connection) -> Done:
    connection.exec_driver_sql(statement)
    return Done(statement)


def _bracketed(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"
