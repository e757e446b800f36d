"""The runbook's recovery verification checklist, made able to fail.

Before the disaster `take_snapshot` records the expected state at the recovery point; after recovery
`verify` compares against it, one Check per item. The runbook's own queries cannot fail (they count
pg_class rows and sum sizes); these compare counts and server-side, order-independent content
hashes, catalog objects, sequences, foreign keys, index validity and pgvector search results.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from pgdrill.fixtures import cost
from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.readiness import RTO_PROBE_TABLE
from pgdrill.fixtures.seed import APP_ROLE
from pgdrill.fixtures.sql import one_row
from pgdrill.fixtures.writer import HEARTBEAT_TABLE
from pgdrill.scenarios.proofs.catalog import CODES, USER_SCHEMA, Catalog, compare, read_catalog
from pgdrill.scenarios.verdicts.checks import Check, NotRun, require, run_check
from pgdrill.scenarios.verdicts.result import DrillFailure


def expect(ok: bool, code: str, message: str) -> None:
    """Fail a check with a finding code (a plain assert would fail it without naming the finding)."""
    if not ok:
        raise DrillFailure(code, message)

EXCLUDED_TABLES = {HEARTBEAT_TABLE, RTO_PROBE_TABLE}  # the drill's own tables, judged by RPO and RTO
TOP_K = 10
PROBES = 20
# Recall is measured with a search breadth at which a healthy graph finds nearly all true neighbours: at
# pgvector's default (40) two healthy builds of the same rows (a restore rebuilds the graph in another
# order, in parallel) differed by 0.12 in recall@10 here, more than the tolerance, while a broken index
# stays far off at any breadth.
EF_SEARCH = 100
RECALL_TOLERANCE = 0.1

# a row's ::text depends on these: another server's defaults must not change a hash (backup.sh pins them too)
HASH_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres", "extra_float_digits": "3",
                 "bytea_output": "hex"}
HASH_SQL = ("SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text "
            "FROM {table} t")

SEQUENCES_SQL = """
SELECT format('%I.%I', s.schemaname, s.sequencename),
       format('%I.%I', tn.nspname, t.relname), quote_ident(a.attname)
FROM pg_sequences s
JOIN pg_namespace sn ON sn.nspname = s.schemaname
JOIN pg_class sc ON sc.relname = s.sequencename AND sc.relnamespace = sn.oid
JOIN pg_depend d ON d.objid = sc.oid AND d.deptype IN ('a', 'i') AND d.classid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
"""

FOREIGN_KEYS_SQL = f"""
SELECT conname, conrelid::regclass::text, confrelid::regclass::text,
       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(conkey) WITH ORDINALITY k(n, i)
          JOIN pg_attribute ON attrelid = conrelid AND attnum = k.n),
       (SELECT array_agg(quote_ident(attname) ORDER BY k.i) FROM unnest(confkey) WITH ORDINALITY k(n, i)
          JOIN pg_attribute ON attrelid = confrelid AND attnum = k.n)
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE contype = 'f' AND {USER_SCHEMA.format(n='n')}
"""

HNSW_SQL = """
SELECT format('%I.%I', n.nspname, c.relname), quote_ident(a.attname), a.atttypmod, opc.opcname, ic.relname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE am.amname = 'hnsw'
ORDER BY 1, 2
"""

OPERATORS = {"vector_l2_ops": "<->", "vector_cosine_ops": "<=>", "vector_ip_ops": "<#>", "vector_l1_ops": "<+>"}


@dataclass
class VectorProbe:
    """Exact and index top-k for fixed probe vectors on one HNSW-indexed column."""

    column: str
    dims: int
    exact: list[list[int]]
    recall: float


@dataclass
class Snapshot:
    """The expected state at the recovery point."""

    dbname: str
    roles: set[str] = field(default_factory=set)
    catalog: Catalog = field(default_factory=dict)
    tables: dict[str, tuple[int, str]] = field(default_factory=dict)
    vectors: list[VectorProbe] = field(default_factory=list)


def user_tables(cluster: Cluster, dbname: str, matviews: bool = True) -> list[str]:
    """Tables (and populated matviews) of every non-system schema, not the drill's own tables."""
    kinds = "('r', 'p', 'm')" if matviews else "('r', 'p')"
    rows = cluster.query("SELECT format('%I.%I', n.nspname, c.relname), c.relname FROM pg_class c "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace "
                         f"WHERE c.relkind IN {kinds} AND (c.relkind <> 'm' OR c.relispopulated) "
                         f"AND {USER_SCHEMA.format(n='n')} ORDER BY 1", dbname=dbname)
    return [qualified for qualified, name in rows if name not in EXCLUDED_TABLES]


def _table_hashes(cluster: Cluster, dbname: str, tables: list[str]) -> dict[str, tuple[int, str]]:
    """Counts and content hashes, computed under pinned output settings (the row's text form depends on them)."""
    with cluster.connect(dbname) as conn:
        for name, value in HASH_SETTINGS.items():
            conn.execute(f"SET {name} = '{value}'")
        return {t: one_row(conn.execute(HASH_SQL.format(table=t))) for t in tables}


def _probe_vectors(dims: int) -> list[str]:
    rng = random.Random(7)
    return ["[" + ",".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(dims)) + "]" for _ in range(PROBES)]


def _vector_probes(cluster: Cluster, dbname: str) -> list[VectorProbe]:
    probes = []
    with cluster.connect(dbname) as conn:
        for table, column, dims, opclass, index in conn.execute(HNSW_SQL).fetchall():
            op = OPERATORS.get(opclass, "<->")
            query = f"SELECT id FROM {table} ORDER BY {column} {op} %s::vector LIMIT {TOP_K}"
            exact, hits = [], 0
            for vector in _probe_vectors(dims):
                conn.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
                truth = [r[0] for r in conn.execute(query, (vector,)).fetchall()]
                conn.execute(f"RESET enable_indexscan; RESET enable_bitmapscan; SET enable_seqscan = off; "
                             f"SET hnsw.ef_search = {EF_SEARCH}")
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, (vector,)).fetchall())
                approx = [r[0] for r in conn.execute(query, (vector,)).fetchall()]
                conn.execute("RESET enable_seqscan; RESET hnsw.ef_search")
                if index not in plan:
                    raise DrillFailure("PGVECTOR_INDEX_UNUSED", f"the HNSW index {index} is not used for {table}.{column} "
                                                               f"kNN search; plan: {' '.join(plan.split())[:200]}")
                exact.append(truth)
                hits += len(set(truth) & set(approx))
            probes.append(VectorProbe(f"{table}.{column}", dims, exact, hits / (TOP_K * PROBES)))
    return probes


@cost.drill("snapshot (catalog, content hashes, vector probes)")
def take_snapshot(cluster: Cluster, dbname: str, with_vectors: bool = True) -> Snapshot:
    """The source's roles, catalog, content hashes and exact nearest neighbours. The hashes and the vector probes are
    each a scan of the largest tables: they run side by side on two connections (two cores)."""
    roles = {r[0] for r in cluster.query("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        vectors = pool.submit(_vector_probes, cluster, dbname) if with_vectors else None
        tables = _table_hashes(cluster, dbname, user_tables(cluster, dbname))
        return Snapshot(dbname=dbname, roles=roles, catalog=read_catalog(cluster, dbname), tables=tables,
                        vectors=vectors.result() if vectors else [])


# ----- the checks --------------------------------------------------------------------------------
def check_connectivity_and_roles(cluster: Cluster, snap: Snapshot) -> str:
    current = cluster.scalar("SELECT current_database()", dbname=snap.dbname)
    require(current == snap.dbname, f"connected to {current!r}, not {snap.dbname!r}")
    roles = {r[0] for r in cluster.query("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")}
    missing = sorted(snap.roles - roles)
    expect(not missing, "ROLES_MISSING", f"roles missing after recovery: {', '.join(missing)}")
    return f"database {snap.dbname} accepts connections; {len(snap.roles)} roles present"


def check_schema_objects(cluster: Cluster, snap: Snapshot, now: Catalog) -> str:
    """Every object of every non-system schema exists (tables ... functions, triggers, policies, extensions)."""
    diff = compare(snap.catalog["objects"], now["objects"])
    expect(not diff.missing and not diff.extra, CODES["objects"], f"schema objects differ: {diff.describe()}")
    return f"{len(now['objects'])} objects in every schema (relations, constraints, functions, triggers, policies, " \
           f"extensions) match"


def check_aspect(snap: Snapshot, now: Catalog, aspect: str) -> str:
    """Definitions, owners, privileges, large objects: changed values, and entries missing or extra that are no
    schema object of their own (default privileges, large objects); a missing table is the schema check's."""
    diff = compare(snap.catalog[aspect], now[aspect])
    objects = {f"{kind} {name}" for kind, name in snap.catalog["objects"].keys() | now["objects"].keys()}
    bad = diff.changed + [f"missing: {e}" for e in diff.missing if e not in objects] \
        + [f"unexpected: {e}" for e in diff.extra if e not in objects]
    expect(not bad, CODES[aspect], f"{aspect} differ: {'; '.join(bad[:6])}" + (f" (+{len(bad) - 6} more)"
                                                                             if len(bad) > 6 else ""))
    return f"{len(now[aspect])} {aspect} equal"


def check_application_role(cluster: Cluster, snap: Snapshot) -> str:
    """The application's role (not the superuser) logs in and reads every relation it owned before the disaster."""
    owned = sorted(name for (kind, name), owner in snap.catalog["owners"].items()
                   if owner == APP_ROLE and kind in ("table", "view", "materialized view"))
    if not owned:
        raise NotRun(f"the role {APP_ROLE} owned no tables before the disaster")
    try:
        with cluster.connect(snap.dbname, user=APP_ROLE) as conn:
            for name in owned:
                conn.execute(f"SELECT count(*) FROM {name}").fetchall()
    except psycopg.Error as exc:
        raise DrillFailure("APP_ROLE_CANNOT_READ", f"the application role {APP_ROLE} cannot read its data after "
                                                   f"recovery: {' '.join(str(exc).split())[:200]}") from None
    return f"{APP_ROLE} logged in and read its {len(owned)} relations"


def check_row_counts_and_hashes(cluster: Cluster, snap: Snapshot) -> str:
    now = _table_hashes(cluster, snap.dbname, sorted(snap.tables))
    problems = []
    for table, (count, digest) in snap.tables.items():
        got_count, got_digest = now[table]
        if got_count != count:
            problems.append(f"{table} has {got_count} rows, expected {count}")
        elif got_digest != digest:
            problems.append(f"{table} content hash differs with the same row count ({count})")
    expect(not problems, "DATA_MISMATCH", "; ".join(problems))
    return f"{len(now)} tables: counts and content hashes equal ({sum(c for c, _ in now.values())} rows)"


def check_sequences(cluster: Cluster, snap: Snapshot) -> str:
    behind = []
    with cluster.connect(snap.dbname) as conn:
        rows = conn.execute(SEQUENCES_SQL).fetchall()
        for sequence, table, column in rows:
            if table.split(".")[-1] in EXCLUDED_TABLES:
                continue
            last_value, is_called = one_row(conn.execute(f"SELECT last_value, is_called FROM {sequence}"))
            next_value = last_value + 1 if is_called else last_value
            top = one_row(conn.execute(f"SELECT coalesce(max({column}), 0) FROM {table}"))[0]
            if next_value <= top:
                behind.append(f"{sequence} is at {last_value} but max({table}.{column}) is {top}")
    expect(not behind, "SEQUENCE_BEHIND", "sequence behind its column (next insert collides): " + "; ".join(behind))
    return f"{len(rows)} sequences at or past their column's max"


def check_foreign_keys(cluster: Cluster, snap: Snapshot) -> str:
    orphans = []
    with cluster.connect(snap.dbname) as conn:
        keys = conn.execute(FOREIGN_KEYS_SQL).fetchall()
        for name, child, parent, cols, pcols in keys:
            join = " AND ".join(f"p.{p} = c.{c}" for c, p in zip(cols, pcols, strict=True))
            notnull = " AND ".join(f"c.{c} IS NOT NULL" for c in cols)
            count = one_row(conn.execute(f"SELECT count(*) FROM {child} c WHERE {notnull} AND NOT EXISTS "
                                 f"(SELECT 1 FROM {parent} p WHERE {join})"))[0]
            if count:
                orphans.append(f"{name}: {count} rows of {child} point to missing {parent} rows")
    expect(not orphans, "FK_ORPHANS", "; ".join(orphans))
    return f"{len(keys)} foreign keys without orphans"


def check_indexes_valid(cluster: Cluster, snap: Snapshot) -> str:
    bad = cluster.query("SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        f"WHERE {USER_SCHEMA.format(n='n')} AND NOT (indisvalid AND indisready)",
                        dbname=snap.dbname)
    expect(not bad, "INDEX_INVALID", "invalid indexes: " + ", ".join(r[0] for r in bad))
    return "all indexes valid and ready"


def check_pgvector(cluster: Cluster, snap: Snapshot, installation, tolerance: float = RECALL_TOLERANCE) -> str:
    if installation.pgvector_version is None:
        raise NotRun(f"pgvector is not installed in {installation.bindir}")
    if not snap.vectors:
        raise NotRun("the database has no HNSW-indexed vector column")
    now = {p.column: p for p in _vector_probes(cluster, snap.dbname)}
    problems, recalls = [], []
    for before in snap.vectors:
        after = now.get(before.column)
        if after is None:
            problems.append(f"{before.column}: HNSW index gone")
            continue
        if after.dims != before.dims:
            problems.append(f"{before.column}: dimension {after.dims}, expected {before.dims}")
        if after.exact != before.exact:
            problems.append(f"{before.column}: exact nearest neighbours differ from before the disaster")
        if after.recall < before.recall - tolerance:
            problems.append(f"{before.column}: HNSW recall@{TOP_K} {after.recall:.2f}, was {before.recall:.2f}")
        recalls.append(f"{before.column} recall@{TOP_K} {after.recall:.2f} (before {before.recall:.2f})")
    expect(not problems, "PGVECTOR_MISMATCH", "; ".join(problems))
    return "; ".join(recalls)


def check_amcheck(cluster: Cluster, snap: Snapshot, installation) -> str:
    if not installation.has_amcheck:
        raise NotRun(f"amcheck is not shipped by {installation.bindir} (and it skips HNSW indexes anyway)")
    with cluster.connect(snap.dbname) as conn:
        existed = one_row(conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'"))[0]
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        try:
            indexes = conn.execute("SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                   "JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'btree' "
                                   "AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, "
                                   "'information_schema'::regnamespace)").fetchall()
            for (index,) in indexes:
                conn.execute("SELECT bt_index_check(%s::regclass, true)", (index,))
        finally:
            if not existed:
                conn.execute("DROP EXTENSION amcheck")
    return f"bt_index_check passed on {len(indexes)} btree indexes"


def check_sqlalchemy(cluster: Cluster, snap: Snapshot) -> str:
    from sqlalchemy import create_engine, text
    engine = create_engine(cluster.sqlalchemy_url(snap.dbname))
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT 1")).scalar()
    finally:
        engine.dispose()
    require(value == 1, f"SELECT 1 returned {value!r}")
    return "SQLAlchemy 2 engine: SELECT 1 via text() returned 1"


def check_health_urls(urls: tuple[str, ...]) -> str:
    if not urls:
        raise NotRun("no application health URLs configured for this drill")
    import urllib.request
    for url in urls:
        with urllib.request.urlopen(url, timeout=5) as response:
            require(response.status == 200, f"{url} answered {response.status}")
    return f"{len(urls)} health URLs answered 200"


def verify(cluster: Cluster, snap: Snapshot, installation, health_urls: tuple[str, ...] = (), physical: bool = False) -> list[Check]:
    """Run the online checklist items (1-5, 8); the scenario adds 6 (checksums, backups) and 7 (archiving).

    After a physical restore the HNSW index is the same bytes, so its recall must be identical; after a
    logical restore it is rebuilt and may differ a little. The checks only read, each on connections of its own:
    two run at a time (two cores), reported in this order.
    """
    tolerance = 0.0 if physical else RECALL_TOLERANCE
    now = read_catalog(cluster, snap.dbname)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("connectivity and roles", lambda: check_connectivity_and_roles(cluster, snap)),
        ("schema objects", lambda: check_schema_objects(cluster, snap, now)),
        ("definitions (views, functions, triggers, policies, defaults, constraints, indexes)",
         lambda: check_aspect(snap, now, "definitions")),
        ("owners", lambda: check_aspect(snap, now, "owners")),
        ("privileges (ACLs and default privileges)", lambda: check_aspect(snap, now, "privileges")),
        ("large objects", lambda: check_aspect(snap, now, "large objects")),
        ("the application role reads its data", lambda: check_application_role(cluster, snap)),
        ("row counts and content hashes", lambda: check_row_counts_and_hashes(cluster, snap)),
        ("sequences not behind", lambda: check_sequences(cluster, snap)),
        ("foreign keys without orphans", lambda: check_foreign_keys(cluster, snap)),
        ("indexes valid", lambda: check_indexes_valid(cluster, snap)),
        ("pgvector search", lambda: check_pgvector(cluster, snap, installation, tolerance)),
        ("amcheck", lambda: check_amcheck(cluster, snap, installation)),
        ("application connectivity (SQLAlchemy 2)", lambda: check_sqlalchemy(cluster, snap)),
        ("application health URLs", lambda: check_health_urls(health_urls)),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda check: run_check(*check), checks))
