"""docs/schema/<system>.md is what the migrations produce (a test fails when it is stale,
as for sql/), `schema-tool docs` writes it, and it shows every kind of object."""

from __future__ import annotations

import difflib
from pathlib import Path

from demo_tables import make_parent
from pg import TestDB, run_cli
from schema_tool import docs, paths

DEMO = """
CREATE SCHEMA demo AUTHORIZATION schema_tool_owner;
SET ROLE schema_tool_owner;
CREATE TYPE demo.mood AS ENUM ('calm', 'busy');
CREATE DOMAIN demo.percent AS integer CONSTRAINT percent_range CHECK (VALUE BETWEEN 0 AND 100);
CREATE TABLE demo.parents (
    id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT parents_pkey PRIMARY KEY,
    name text NOT NULL CONSTRAINT parents_name_key UNIQUE,
    secret text,
    mood demo.mood NOT NULL DEFAULT 'calm'
);
COMMENT ON TABLE demo.parents IS 'Parents | with a pipe.';
COMMENT ON COLUMN demo.parents.secret IS 'Never readable by the read-only role.';
CREATE TABLE demo.children (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id bigint NOT NULL CONSTRAINT children_parent_fk REFERENCES demo.parents (id) ON DELETE CASCADE,
    done demo.percent NOT NULL DEFAULT 0 CONSTRAINT chk_children_done CHECK (done <> 13)
);
CREATE INDEX idx_children_parent_open ON demo.children (parent_id) WHERE done < 100;
CREATE TABLE demo.twins (
    parent_id bigint PRIMARY KEY CONSTRAINT twins_parent_fk REFERENCES demo.parents (id)
);
ALTER TABLE demo.children ENABLE ROW LEVEL SECURITY;
CREATE POLICY children_unfinished ON demo.children FOR SELECT TO schema_tool_readonly USING (done < 100);
CREATE FUNCTION demo.tg__touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER _100_touch BEFORE UPDATE ON demo.children FOR EACH ROW EXECUTE FUNCTION demo.tg__touch();
CREATE FUNCTION demo.open_children(p_parent bigint, p_limit integer DEFAULT 10) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$ SELECT id FROM demo.children WHERE parent_id = p_parent LIMIT p_limit $$;
COMMENT ON FUNCTION demo.open_children(bigint, integer) IS 'Unfinished children of a parent.';
REVOKE EXECUTE ON FUNCTION demo.open_children(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION demo.open_children(bigint, integer) TO schema_tool_readonly;
CREATE VIEW demo.busy_parents WITH (security_invoker = true) AS
    SELECT id, name FROM demo.parents WHERE mood = 'busy';
GRANT SELECT (id, name, mood) ON demo.parents TO schema_tool_readonly;
GRANT SELECT, INSERT ON demo.children TO schema_tool_readonly;
RESET ROLE;
"""


def test_docs_match_a_fresh_migration(db: TestDB, migrated_systems: list[str]) -> None:
    problems = []
    for system in migrated_systems:
        committed_path = paths.docs_dir() / f"{system}.md"
        fresh = docs.generate(db.url, system)
        committed = committed_path.read_text() if committed_path.exists() else ""
        if fresh != committed:
            diff = "".join(difflib.unified_diff(
                committed.splitlines(keepends=True), fresh.splitlines(keepends=True),
                f"committed docs/schema/{system}.md", "fresh migration", n=1,
            ))
            problems.append(f"docs/schema/{system}.md is stale (run `schema-tool docs`):\n{diff[:4000]}")
    assert not problems, "\n".join(problems)


def test_docs_command_writes_what_is_committed(server_url: str, tmp_path: Path) -> None:
    result = run_cli("docs", "--system", "ops", "--output-dir", str(tmp_path), url=server_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {tmp_path / 'ops.md'}"
    assert (tmp_path / "ops.md").read_text() == (paths.docs_dir() / "ops.md").read_text()


def test_the_reference_shows_every_kind_of_object(db: TestDB) -> None:
    db.execute(DEMO)
    make_parent(db, "demo", "events", premake=2, retention="90 days")
    page = docs.generate(db.url, "demo")
    assert docs.generate(db.url, "demo") == page, "the same database must give the same page"
    lines = page.splitlines()

    def has(line: str) -> None:
        assert line in lines, f"missing line: {line}\n---\n{page}"

    has("### demo.parents")
    has("*table* — Parents | with a pipe.")
    has("| `id` | `bigint` | not null | `generated always as identity` |  |")
    has("| `secret` | `text` | null |  | Never readable by the read-only role. |")
    has("| `mood` | `demo.mood` | not null | `'calm'::demo.mood` |  |")
    has("- primary key `parents_pkey`: `PRIMARY KEY (id)`")
    has("- unique `parents_name_key`: `UNIQUE (name)`")
    has("- foreign key `children_parent_fk`: `FOREIGN KEY (parent_id) REFERENCES demo.parents(id) ON DELETE CASCADE`")
    has("- check `chk_children_done`: `CHECK (((done)::integer <> 13))`")
    has("- `idx_children_parent_open`: `btree (parent_id) WHERE ((done)::integer < 100)`")
    has("**Row level security**: off — a role with a grant below reaches every row.")
    has("| `schema_tool_readonly` |  | SELECT (every column but `secret`) |")
    has("**Row level security**: on (the owner bypasses it); a role sees and changes only the rows a policy"
        " lets it.")
    has("| `children_unfinished` | SELECT | `schema_tool_readonly` | `((done)::integer < 100)` |  |")
    has("| `schema_tool_readonly` | SELECT, INSERT |  |")
    has("- `_100_touch`: `BEFORE UPDATE ON demo.children FOR EACH ROW EXECUTE FUNCTION demo.tg__touch()`")
    has("**Partitioning**: `RANGE (created_at)`, by month on `created_at`, kept by maintenance: partitions"
        " `events_YYYY_MM` from the current month to 2 months ahead, and a DEFAULT partition for rows of any"
        " other month (maintenance moves them to their month). Retention: partitions wholly older than"
        " 90 days are dropped.")
    has("*view, `security_invoker=true`*")
    has("- `demo.mood` (enum: `calm`, `busy`)")
    has("- `demo.percent` (domain over `integer`: `CHECK (((VALUE >= 0) AND (VALUE <= 100)))`)")
    has("FUNCTION demo.open_children(p_parent bigint, p_limit integer DEFAULT 10) RETURNS SETOF bigint")
    has("Unfinished children of a parent.")
    has("sql, stable, **SECURITY DEFINER**, `search_path=pg_catalog, pg_temp`. EXECUTE: `schema_tool_readonly`.")
    has("plpgsql, volatile. EXECUTE: nobody but the owner.")  # default privileges revoke PUBLIC
    # the ER diagram: a line per foreign key, cardinality from NOT NULL and uniqueness
    has("```mermaid")
    has('    parents ||..o{ children : "children_parent_fk"')
    has('    parents ||--o| twins : "twins_parent_fk"')
    has("        int8 parent_id FK")
    has("        int8 parent_id PK, FK")
    assert "_20" not in page, "dated partitions are maintenance's, not the contract's"
