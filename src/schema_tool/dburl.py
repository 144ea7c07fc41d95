"""Database URLs: libpq URLs in, psycopg connections and yoyo URIs out."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import psycopg
from psycopg import conninfo as pg_conninfo
from schema_tool.errors import ToolError, UsageError

if TYPE_CHECKING:  # yoyo is imported lazily: maintenance never needs it
    from yoyo.connections import DatabaseURI

YOYO_SCHEME = "postgresql+psycopg"


def resolve(url: str | None, *, required: bool = True) -> str | None:
    """The URL given on the command line, else DATABASE_URL; validated (a bad URL is bad usage)."""
    url = url or os.environ.get("DATABASE_URL") or None
    if url is None:
        if required:
            raise UsageError("no database given: pass --database-url or set DATABASE_URL")
        return None
    parse(url)
    return url


def parse(url: str) -> dict[str, str]:
    """libpq's own reading of a URL or key=value string; bad input is a usage error."""
    if url.startswith(("postgresql+", "postgres+")):
        scheme = url.split("://", 1)[0]
        raise UsageError(f"bad database URL: use a libpq URL (postgresql://...), not {scheme}://")
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"bad database URL: {_first_line(exc)}") from None
    port = str(params.get("port", "5432"))
    if not all(_valid_port(p.strip(), "," in port) for p in port.split(",")):
        raise UsageError(f"bad database URL: invalid port {port!r} (a port is 1 to 65535)")
    return params


def _valid_port(text: str, in_list: bool) -> bool:
    """1 to 65535; in a list of hosts an empty entry means the default port (libpq)."""
    if not text:
        return in_list
    return text.isdigit() and 1 <= int(text) <= 65535


def to_yoyo(url: str) -> "DatabaseURI":
    """The yoyo URI for a libpq URL: yoyo 9 reaches psycopg 3 only as postgresql+psycopg."""
    from yoyo.connections import DatabaseURI

    params = parse(url)
    port = params.pop("port", None)
    return DatabaseURI(
        scheme=YOYO_SCHEME,
        username=params.pop("user", None),
        password=params.pop("password", None),
        hostname=params.pop("host", None),
        port=int(port) if port and port.isdigit() else None,
        database=params.pop("dbname", None),
        args=params,
    )


def describe(url: str) -> str:
    """host:port/dbname for messages, never the password."""
    params = parse(url)
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or '?'}"


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database."""
    params = parse(url)
    params["dbname"] = dbname
    return pg_conninfo.make_conninfo(**params)


def connect(url: str, *, app: str = "schema-tool", autocommit: bool = True, **settings: str) -> psycopg.Connection:
    """Connect or fail with one line naming the server (never the password)."""
    params = parse(url)
    params.setdefault("connect_timeout", "10")
    params["application_name"] = app
    try:
        conn = psycopg.connect(**params, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise ToolError(f"cannot connect to {describe(url)}: {_first_line(exc)}") from None
    for name, value in settings.items():
        conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
    return conn


def end_with_client(conn: psycopg.Connection) -> None:
    """Have the server end this session's query soon after the client dies (PostgreSQL 14+),
    so a killed run's locks go with it instead of lasting until its statement ends."""
    if conn.info.server_version >= 140000:
        conn.execute("SELECT pg_catalog.set_config('client_connection_check_interval', '1s', false)")


def error_line(exc: psycopg.Error) -> str:
    """A server error as one line: message, SQLSTATE, detail."""
    diag = exc.diag
    text = diag.message_primary or _first_line(exc)
    if diag.sqlstate:
        text = f"{text} [SQLSTATE {diag.sqlstate}]"
    if diag.message_detail:
        text += f" ({' '.join(diag.message_detail.split())})"
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
