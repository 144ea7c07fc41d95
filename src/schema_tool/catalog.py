"""Reads one system's schemas from PostgreSQL's catalogs into plain records, for the
generated reference (`schema-tool docs`). Every list comes back in a fixed order and every
expression is deparsed under fixed settings, so the same database reads the same way."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

# Deparsed names are qualified unless they live in pg_catalog; values print the same way
# whatever the server's or the session's defaults.
SETTINGS = {"search_path": "pg_catalog", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
            "TimeZone": "UTC", "extra_float_digits": "1"}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@dataclass
class Column:
    name: str
    type: str
    type_short: str  # one word, for the ER diagram
    not_null: bool
    default: str | None
    comment: str | None


@dataclass
class Constraint:
    name: str
    kind: str  # p primary key, u unique, f foreign key, c check, x exclusion
    definition: str
    columns: list[str]
    ref_table: str | None = None  # schema.table of a foreign key's target
    ref_columns: list[str] = field(default_factory=list)


@dataclass
class Index:
    name: str
    definition: str  # "btree (a, b) WHERE ..."
    unique: bool
    constraint: str | None  # the key it backs, if any
    comment: str | None


@dataclass
class Policy:
    name: str
    command: str
    permissive: bool
    roles: list[str]
    using: str | None
    check: str | None


@dataclass
class Registration:
    """A row of ops.partitioned_tables: how maintenance keeps the table's partitions."""

    control_column: str
    premake: int
    retention: str | None
    retention_mode: str
    archive_schema: str | None
    default_partition: bool


@dataclass
class Relation:
    schema: str
    name: str
    kind: str  # table | partitioned table | view | materialized view
    comment: str | None
    owner: str
    rls: bool = False
    force_rls: bool = False
    options: list[str] = field(default_factory=list)
    partition_key: str | None = None
    columns: list[Column] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    triggers: list[tuple[str, str]] = field(default_factory=list)  # (name, definition)
    grants: dict[str, list[str]] = field(default_factory=dict)  # role -> privileges on the table
    column_grants: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (role, privilege) -> columns
    registration: Registration | None = None
    partitions: list[tuple[str, str]] = field(default_factory=list)  # fixed children: (name, bound)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Function:
    schema: str
    name: str
    kind: str  # function | procedure | aggregate | window
    arguments: str
    identity: str
    result: str | None
    language: str
    volatility: str
    security_definer: bool
    config: list[str]
    comment: str | None
    owner: str
    execute: list[str]  # roles other than the owner that may call it


@dataclass
class Type:
    schema: str
    name: str
    kind: str  # enum | domain | composite
    comment: str | None
    labels: list[str]  # enum values, or a composite's "name type" attributes
    base: str | None = None  # domain
    checks: list[str] = field(default_factory=list)  # domain


@dataclass
class Catalog:
    schemas: list[tuple[str, str | None]]  # (name, comment)
    relations: list[Relation]
    functions: list[Function]
    types: list[Type]


RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind, pg_catalog.obj_description(c.oid, 'pg_class'),
       pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity,
       coalesce(c.reloptions, '{}'),
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = """
SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typcategory = 'A' THEN pg_catalog.ltrim(t.typname, '_') || '[]' ELSE t.typname END,
       a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       pg_catalog.col_description(a.attrelid, a.attnum)
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

CONSTRAINTS_SQL = """
SELECT con.conrelid, con.conname, con.contype, pg_catalog.pg_get_constraintdef(con.oid),
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(n, i)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
       CASE WHEN con.contype = 'f' THEN fn.nspname || '.' || f.relname END,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY AS k(n, i)
             JOIN pg_catalog.pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_catalog.pg_constraint AS con
LEFT JOIN pg_catalog.pg_class AS f ON f.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace AS fn ON fn.oid = f.relnamespace
WHERE con.conrelid = ANY(%(oids)s) AND con.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY con.conrelid, pg_catalog.strpos('pufcx', con.contype), con.conname
"""

INDEXES_SQL = """
SELECT i.indrelid, ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid), i.indisunique, con.conname,
       pg_catalog.obj_description(ic.oid, 'pg_class')
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
LEFT JOIN pg_catalog.pg_constraint AS con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
     AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = ANY(%(oids)s)
ORDER BY i.indrelid, ic.relname
"""

POLICIES_SQL = """
SELECT p.polrelid, p.polname, p.polpermissive,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
       ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r.oid) END
             FROM pg_catalog.unnest(p.polroles) AS r(oid) ORDER BY 1),
       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_catalog.pg_policy AS p
WHERE p.polrelid = ANY(%(oids)s)
ORDER BY p.polrelid, p.polname
"""

TRIGGERS_SQL = """
SELECT t.tgrelid, t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
FROM pg_catalog.pg_trigger AS t
WHERE t.tgrelid = ANY(%(oids)s) AND NOT t.tgisinternal
ORDER BY t.tgrelid, t.tgname
"""

GRANTS_SQL = """
SELECT c.oid, NULL::text,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END, x.privilege_type
FROM pg_catalog.pg_class AS c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS x
WHERE c.oid = ANY(%(oids)s) AND x.grantee <> c.relowner
UNION ALL
SELECT a.attrelid, a.attname::text,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END, x.privilege_type
FROM pg_catalog.pg_attribute AS a CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) AS x
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, 3, 2 NULLS FIRST, 4
"""

CHILDREN_SQL = """
SELECT i.inhparent, c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = ANY(%(oids)s) AND c.relkind IN ('r', 'p')
ORDER BY i.inhparent, c.relname
"""

REGISTRY_SQL = """
SELECT parent_schema || '.' || parent_table, control_column, premake, retention::text, retention_mode,
       archive_schema, default_partition
FROM ops.partitioned_tables WHERE parent_schema = ANY(%(schemas)s)
"""

FUNCTIONS_SQL = """
SELECT n.nspname, p.proname,
       CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
                      ELSE 'window' END,
       pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_identity_arguments(p.oid),
       CASE WHEN p.prokind <> 'p' THEN pg_catalog.pg_get_function_result(p.oid) END, l.lanname,
       CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
       p.prosecdef, coalesce(p.proconfig, '{}'), pg_catalog.obj_description(p.oid, 'pg_proc'),
       pg_catalog.pg_get_userbyid(p.proowner),
       ARRAY(SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END
             FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS x
             WHERE x.privilege_type = 'EXECUTE' AND x.grantee <> p.proowner ORDER BY 1)
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
WHERE n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                  WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
                    AND d.deptype = 'e')
ORDER BY n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)
"""

TYPES_SQL = """
SELECT n.nspname, t.typname,
       CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' ELSE 'composite' END,
       pg_catalog.obj_description(t.oid, 'pg_type'),
       CASE WHEN t.typtype = 'e' THEN
                ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum AS e WHERE e.enumtypid = t.oid
                      ORDER BY e.enumsortorder)
            ELSE ARRAY(SELECT a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                       FROM pg_catalog.pg_attribute AS a
                       WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
                       ORDER BY a.attnum) END,
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
       ARRAY(SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint AS c
             WHERE c.contypid = t.oid ORDER BY c.conname)
FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND (t.typtype IN ('e', 'd')
       OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = t.typrelid) = 'c'))
ORDER BY n.nspname, t.typname
"""

KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}


def read(conn: psycopg.Connection, schemas: list[str]) -> Catalog:
    """Everything the reference shows about these schemas."""
    for name, value in SETTINGS.items():
        conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
    args = {"schemas": schemas}
    found = conn.execute("SELECT n.nspname, pg_catalog.obj_description(n.oid, 'pg_namespace')"
                         " FROM pg_catalog.pg_namespace AS n WHERE n.nspname = ANY(%(schemas)s)"
                         " ORDER BY pg_catalog.array_position(%(schemas)s, n.nspname::text)", args).fetchall()
    by_oid: dict[int, Relation] = {}
    for oid, schema, name, kind, comment, owner, rls, force, options, partkey in conn.execute(RELATIONS_SQL, args):
        by_oid[oid] = Relation(schema, name, KINDS[kind], comment, owner, rls, force, sorted(options), partkey)
    _fill_relations(conn, by_oid)
    registered = {}
    if conn.execute("SELECT pg_catalog.to_regclass('ops.partitioned_tables')").fetchone()[0] is not None:
        registered = {row[0]: Registration(*row[1:]) for row in conn.execute(REGISTRY_SQL, args)}
    for rel in by_oid.values():
        rel.registration = registered.get(rel.qualified)
    functions = [Function(*row) for row in conn.execute(FUNCTIONS_SQL, args)]
    types = [Type(*row) for row in conn.execute(TYPES_SQL, args)]
    return Catalog(list(found), list(by_oid.values()), functions, types)


def _fill_relations(conn: psycopg.Connection, by_oid: dict[int, Relation]) -> None:
    args = {"oids": list(by_oid)}
    for oid, name, full, short, not_null, default, identity, generated, comment in conn.execute(COLUMNS_SQL, args):
        if identity:
            default = f"generated {'always' if identity == 'a' else 'by default'} as identity"
        elif generated:
            default = f"generated always as ({default}) stored"
        by_oid[oid].columns.append(Column(name, full, short, not_null, default, comment))
    for oid, name, kind, definition, columns, ref, ref_columns in conn.execute(CONSTRAINTS_SQL, args):
        by_oid[oid].constraints.append(Constraint(name, kind, definition, list(columns), ref, list(ref_columns)))
    for oid, name, definition, unique, constraint, comment in conn.execute(INDEXES_SQL, args):
        by_oid[oid].indexes.append(Index(name, _index_body(definition), unique, constraint, comment))
    for oid, name, permissive, command, roles, using, check in conn.execute(POLICIES_SQL, args):
        by_oid[oid].policies.append(Policy(name, command, permissive, list(roles), using, check))
    for oid, name, definition in conn.execute(TRIGGERS_SQL, args):
        by_oid[oid].triggers.append((name, _trigger_body(definition, name)))
    column_grants: dict[int, dict[tuple[str, str], list[str]]] = defaultdict(dict)
    for oid, column, role, privilege in conn.execute(GRANTS_SQL, args):
        if column is None:
            by_oid[oid].grants.setdefault(role, []).append(privilege)
        elif privilege not in by_oid[oid].grants.get(role, []):
            column_grants[oid].setdefault((role, privilege), []).append(column)
    for oid, grants in column_grants.items():
        by_oid[oid].column_grants = grants
    for rel in by_oid.values():
        for privileges in rel.grants.values():
            privileges.sort(key=PRIVILEGES.index)
        order = {c.name: i for i, c in enumerate(rel.columns)}
        for columns in rel.column_grants.values():
            columns.sort(key=order.__getitem__)
    for oid, name, bound in conn.execute(CHILDREN_SQL, args):
        by_oid[oid].partitions.append((name, bound))


def _index_body(definition: str) -> str:
    """`CREATE UNIQUE INDEX x ON ONLY s.t USING btree (a)` -> `btree (a)`."""
    head, sep, body = definition.partition(" USING ")
    return body if sep else definition


def _trigger_body(definition: str, name: str) -> str:
    """`CREATE TRIGGER name BEFORE UPDATE ON s.t ...` -> `BEFORE UPDATE ON s.t ...`."""
    for prefix in ("CREATE TRIGGER ", "CREATE CONSTRAINT TRIGGER "):
        if definition.startswith(prefix):
            rest = definition[len(prefix):]
            quoted = f'"{name}"' if rest.startswith('"') else name
            return rest[len(quoted):].lstrip()
    return definition
