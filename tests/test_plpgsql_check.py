"""plpgsql_check over every PL/pgSQL function and trigger function, with an empty
search_path (so an unqualified name inside a function without its own search_path fails)."""

from __future__ import annotations

import pytest

from pg import TestDB

EXTRA_SCHEMAS = {"recorder": ["auth"]}


def test_plpgsql_functions_have_no_errors(db: TestDB, migrated_systems: list[str]) -> None:
    available = db.scalar("SELECT count(*) FROM pg_available_extensions WHERE name = 'plpgsql_check'")
    if not available:
        pytest.skip("plpgsql_check is not installed (Debian: apt-get install postgresql-15-plpgsql-check)")
    schemas = [s for system in migrated_systems for s in [system, *EXTRA_SCHEMAS.get(system, [])]]
    db.execute("CREATE EXTENSION plpgsql_check")
    with db.connect() as conn:
        targets = conn.execute(
            """
            SELECT p.oid::regprocedure::text, coalesce(t.tgrelid, 0)::regclass::text
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            JOIN pg_language l ON l.oid = p.prolang
            LEFT JOIN LATERAL (SELECT DISTINCT tg.tgrelid FROM pg_trigger tg
                               WHERE tg.tgfoid = p.oid AND tg.tgparentid = 0) t ON true
            WHERE n.nspname = ANY(%s) AND l.lanname = 'plpgsql'
              AND (p.prorettype <> 'trigger'::regtype OR t.tgrelid IS NOT NULL)
            ORDER BY 1, 2
            """,
            (schemas,),
        ).fetchall()
        assert targets, "no PL/pgSQL functions found"
        conn.execute("SET search_path = ''")
        problems = []
        for function, relid in targets:
            rows = conn.execute(
                "SELECT level, message, lineno, statement FROM public.plpgsql_check_function_tb("
                "%s::regprocedure, %s::regclass, fatal_errors => false, other_warnings => false)",
                (function, relid),
            ).fetchall()
            problems += [f"{function} on {relid} line {r[2]} ({r[3]}): {r[1]}" for r in rows if r[0] == "error"]
    assert problems == [], "\n".join(problems)
