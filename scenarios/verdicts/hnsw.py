"""How much memory the HNSW build of this data needs: where a restore's index build starts to spill.

pgvector builds an HNSW graph in maintenance_work_mem; once the graph outgrows it, the build says
"hnsw graph no longer fits into maintenance_work_mem after N tuples" and goes on inserting into the
on-disk index, several times slower. The graph costs a fixed number of bytes per vector (for a given
dimension and m), so one small build at the smallest setting (1MB) measures it, and says at which
database size a restore with a given maintenance_work_mem crosses the knee. A restore time measured
below the knee does not extrapolate past it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.seed import DATABASE, index_build_settings
from pgdrill.fixtures.sql import one_row

SAMPLE_VECTORS = 3000  # past the 1MB knee (about 1,200 of the seeder's 32-dim vectors), a second's build
SPILLED = re.compile(r"no longer fits into maintenance_work_mem after (\d+) tuples")


def spilled_builds(server_log: str) -> list[str]:
    """pgvector's own words, from the server log, for each HNSW build whose graph outgrew maintenance_work_mem."""
    return [line.split("NOTICE:", 1)[-1].strip() for line in server_log.splitlines() if SPILLED.search(line)]


@dataclass(frozen=True)
class Knee:
    """Where the restore's HNSW build outgrows its memory, as measured on this data."""

    graph_bytes_per_vector: float
    vectors_per_database_byte: float
    memory_bytes: int  # the restore session's maintenance_work_mem

    @property
    def database_bytes(self) -> float:
        """The database size past which the graph no longer fits (its vectors in the same proportion)."""
        return self.memory_bytes / self.graph_bytes_per_vector / self.vectors_per_database_byte

    def as_dict(self) -> dict:
        return {"graph_bytes_per_vector": round(self.graph_bytes_per_vector, 1),
                "vectors_per_database_byte": self.vectors_per_database_byte, "memory_bytes": self.memory_bytes,
                "knee_database_bytes": round(self.database_bytes)}


def measure_knee(cluster: Cluster, restore_memory: str) -> Knee | None:
    """Build an HNSW index over a sample of goals' vectors at maintenance_work_mem = 1MB, serially, and read
    pgvector's notice. None when the data has no vectors (no pgvector) or the sample fitted."""
    notices: list[str] = []
    with cluster.connect(DATABASE) as conn:
        if not conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = 'goals'::regclass AND attname = 'embedding'"
                            ).fetchone():
            return None
        conn.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary or ""))
        restore_settings = index_build_settings(restore_memory)  # empty for "server": the server's own
        if "maintenance_work_mem" in restore_settings:
            conn.execute(f"SET maintenance_work_mem = '{restore_settings['maintenance_work_mem']}'")
        memory = _kilobytes(conn) * 1024  # the restore session's, as the server reads it
        # less an empty database's size: the catalogs' fixed megabytes would skew a small drill's proportion
        vectors, data_bytes = one_row(conn.execute(
            "SELECT count(*), pg_database_size(current_database()) - pg_database_size('template1') FROM goals"))
        conn.execute("SET client_min_messages = notice; SET maintenance_work_mem = '1MB'; "
                     "SET max_parallel_maintenance_workers = 0")
        try:
            conn.execute("CREATE TEMP TABLE pgdrill_knee AS SELECT embedding FROM goals LIMIT %s", (SAMPLE_VECTORS,))
            conn.execute("CREATE INDEX ON pgdrill_knee USING hnsw (embedding vector_l2_ops)")
        finally:
            conn.execute("DROP TABLE IF EXISTS pgdrill_knee")
        spilled = next((int(m.group(1)) for m in map(SPILLED.search, notices) if m), None)
        if spilled is None or not vectors:
            return None
        return Knee(1024 * 1024 / spilled, vectors / data_bytes, memory)


def _kilobytes(conn: psycopg.Connection) -> int:
    return int(one_row(conn.execute("SELECT setting FROM pg_settings WHERE name = 'maintenance_work_mem'"))[0])
