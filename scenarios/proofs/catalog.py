"""What a restore can lose although every row comes back: objects, definitions, owners, privileges, large objects.

A restore with --no-owner or --no-privileges, a dropped trigger, a changed function body, a lost
policy or column default all leave row counts and content hashes equal. Each aspect here is read
from the catalogs of every non-system schema, keyed by a stable name, before the disaster and after
recovery; each has its own finding code. Objects that belong to an extension (pgvector's functions)
and the drill's own tables are left out: they are the extension's and the drill's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgdrill.fixtures.contract import Cluster
from pgdrill.fixtures.readiness import RTO_PROBE_TABLE
from pgdrill.fixtures.writer import HEARTBEAT_TABLE

USER_SCHEMA = "{n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname NOT LIKE 'pg\\_%'"
NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = {cls}::regclass AND e.objid = {oid} " \
                "AND e.deptype = 'e')"
DRILL_TABLES = (HEARTBEAT_TABLE, RTO_PROBE_TABLE)
RELKINDS = "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' " \
           "WHEN 'm' THEN 'materialized view' WHEN 'v' THEN 'view' END"
RELATIONS = (f"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMA.format(n='n')} "
             f"AND c.relkind IN ('r','p','i','S','m','v') AND {NOT_EXTENSION.format(cls=repr('pg_class'), oid='c.oid')}")
FUNCTIONS = (f"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_SCHEMA.format(n='n')} "
             f"AND p.prokind IN ('f', 'p') AND {NOT_EXTENSION.format(cls=repr('pg_proc'), oid='p.oid')}")

# (kind, name, value) rows per aspect; value is what must not change
ASPECTS = {
    "objects": f"""
SELECT {RELKINDS}, format('%I.%I', n.nspname, c.relname), '' {RELATIONS}
UNION ALL SELECT 'constraint', conrelid::regclass::text || '.' || conname, ''
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE {USER_SCHEMA.format(n='n')}
UNION ALL SELECT 'function', p.oid::regprocedure::text, '' {FUNCTIONS}
UNION ALL SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, '' FROM pg_trigger t WHERE NOT t.tgisinternal
UNION ALL SELECT 'policy', p.polrelid::regclass::text || '.' || p.polname, '' FROM pg_policy p
UNION ALL SELECT 'schema', n.nspname, '' FROM pg_namespace n WHERE {USER_SCHEMA.format(n='n')}
UNION ALL SELECT 'extension', extname || ' ' || extversion, '' FROM pg_extension""",
    "definitions": f"""
SELECT 'view', c.oid::regclass::text, pg_get_viewdef(c.oid) {RELATIONS} AND c.relkind IN ('v', 'm')
UNION ALL SELECT 'index', c.oid::regclass::text, pg_get_indexdef(c.oid) {RELATIONS} AND c.relkind = 'i'
UNION ALL SELECT 'row level security', c.oid::regclass::text,
                 format('enabled=%s forced=%s', c.relrowsecurity, c.relforcerowsecurity) {RELATIONS} AND c.relkind = 'r'
UNION ALL SELECT 'column', a.attrelid::regclass::text || '.' || a.attname,
                 format('%s not null=%s default=%s generated=%s identity=%s', format_type(a.atttypid, a.atttypmod),
                        a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE {USER_SCHEMA.format(n='n')} AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE {USER_SCHEMA.format(n='n')}
UNION ALL SELECT 'function', p.oid::regprocedure::text, pg_get_functiondef(p.oid) {FUNCTIONS}
UNION ALL SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname,
                 pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text FROM pg_trigger t WHERE NOT t.tgisinternal
UNION ALL SELECT 'policy', p.polrelid::regclass::text || '.' || p.polname,
                 format('cmd=%s permissive=%s roles=%s using=%s check=%s', p.polcmd, p.polpermissive,
                        (SELECT array_agg(r::regrole::text ORDER BY 1) FROM unnest(p.polroles) r),
                        pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p""",
    "owners": f"""
SELECT {RELKINDS}, format('%I.%I', n.nspname, c.relname), pg_get_userbyid(c.relowner) {RELATIONS}
UNION ALL SELECT 'function', p.oid::regprocedure::text, pg_get_userbyid(p.proowner) {FUNCTIONS}
UNION ALL SELECT 'schema', n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE {USER_SCHEMA.format(n='n')}
UNION ALL SELECT 'large object', l.oid::text, pg_get_userbyid(l.lomowner) FROM pg_largeobject_metadata l""",
    "privileges": f"""
SELECT {RELKINDS}, format('%I.%I', n.nspname, c.relname), coalesce(c.relacl::text, 'default') {RELATIONS}
UNION ALL SELECT 'function', p.oid::regprocedure::text, coalesce(p.proacl::text, 'default') {FUNCTIONS}
UNION ALL SELECT 'schema', n.nspname, coalesce(n.nspacl::text, 'default')
  FROM pg_namespace n WHERE {USER_SCHEMA.format(n='n')}
UNION ALL SELECT 'large object', l.oid::text, coalesce(l.lomacl::text, 'default') FROM pg_largeobject_metadata l
UNION ALL SELECT 'default privileges', format('for %s in %s on %s', pg_get_userbyid(d.defaclrole),
                 coalesce(d.defaclnamespace::regnamespace::text, 'all schemas'), d.defaclobjtype), d.defaclacl::text
  FROM pg_default_acl d""",
    "large objects": "SELECT 'large object', l.oid::text, md5(lo_get(l.oid)) FROM pg_largeobject_metadata l",
}

# which finding names a difference in each aspect; objects: missing or extra, the others: changed values
CODES = {"objects": "SCHEMA_MISMATCH", "definitions": "DEFINITION_MISMATCH", "owners": "OWNERSHIP_MISMATCH",
         "privileges": "PRIVILEGES_MISMATCH", "large objects": "LARGE_OBJECTS_MISMATCH"}

Catalog = dict[str, dict[tuple[str, str], str]]


def _drill_own(name: str) -> bool:
    return any(f"{table}" in name for table in DRILL_TABLES)


def read_catalog(cluster: Cluster, dbname: str) -> Catalog:
    """Every aspect's (kind, name) -> value, without the drill's own tables."""
    with cluster.connect(dbname) as conn:
        return {aspect: {(kind, name): value for kind, name, value in conn.execute(sql).fetchall()
                         if not _drill_own(name)}
                for aspect, sql in ASPECTS.items()}


@dataclass
class Difference:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def describe(self, limit: int = 6) -> str:
        parts = []
        for label, items in (("missing", self.missing), ("unexpected", self.extra), ("changed", self.changed)):
            if items:
                more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
                parts.append(f"{label}: {'; '.join(items[:limit])}{more}")
        return " | ".join(parts)


def compare(before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]) -> Difference:
    diff = Difference()
    for key in sorted(before.keys() | after.keys()):
        label = f"{key[0]} {key[1]}"
        if key not in after:
            diff.missing.append(label)
        elif key not in before:
            diff.extra.append(label)
        elif before[key] != after[key]:
            diff.changed.append(f"{label}: was {' '.join(before[key].split())[:120]!r}, "
                                f"now {' '.join(after[key].split())[:120]!r}")
    return diff
