"""Renders the partition DDL in templates/ (Jinja2) with identifiers quoted as PostgreSQL would."""

from __future__ import annotations

import re
from functools import cached_property

import psycopg

from schema_tool import paths

_BARE = re.compile(r"^[a-z_][a-z0-9_$]*$")


class Renderer:
    """One per connection: it asks the server which words are reserved. The keywords and
    Jinja2 are loaded on first use, so a maintenance run with nothing to do needs neither."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    @cached_property
    def _reserved(self) -> set[str]:
        rows = self._conn.execute("SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'").fetchall()
        return {r[0] for r in rows}

    @cached_property
    def _env(self):
        import jinja2

        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(paths.templates_dir())),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def ident(self, *parts: str) -> str:
        """A (qualified) identifier, quoted only where PostgreSQL's quote_ident would."""
        return ".".join(p if _BARE.match(p) and p not in self._reserved else '"' + p.replace('"', '""') + '"'
                        for p in parts)

    @staticmethod
    def literal(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def render(self, template: str, **context: object) -> str:
        text = self._env.get_template(template).render(**context)
        text = text.replace("  -- noqa: PRS", "")  # lint directives are not for the DBA
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
