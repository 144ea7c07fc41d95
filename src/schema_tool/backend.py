"""yoyo's PostgreSQL (psycopg 3) backend, connected from a libpq URL without loss, with its
bookkeeping tables in schema `schema_tool` (see bookkeeping.py)."""

from __future__ import annotations

import psycopg
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend

from schema_tool import bookkeeping, dburl


class Backend(PostgresqlPsycopgBackend):
    """yoyo's backend, but the connection is made from the user's libpq URL as given, and
    yoyo's tables are schema-qualified.

    yoyo would rebuild a conninfo from its parsed URI and drop what it does not model
    (several hosts, percent-encoded socket paths, service files); we hand libpq the
    original string and give yoyo a translated URI only for its bookkeeping. yoyo names
    its tables unqualified (they would land in the first schema of the search_path);
    every statement yoyo builds uses the *_quoted names below instead.
    """

    log_table = bookkeeping.LOG
    lock_table = bookkeeping.LOCK
    version_table = bookkeeping.VERSION

    def __init__(self, url: str, *, app: str, settings: dict[str, str] | None = None):
        self._url = url
        self._app = app
        self._settings = settings or {}
        super().__init__(dburl.to_yoyo(url), bookkeeping.MIGRATIONS)

    # yoyo formats these into its SQL ({0.migration_table_quoted} and friends)
    @property
    def migration_table_quoted(self) -> str:
        return bookkeeping.quoted(bookkeeping.MIGRATIONS)

    @property
    def log_table_quoted(self) -> str:
        return bookkeeping.quoted(bookkeeping.LOG)

    @property
    def lock_table_quoted(self) -> str:
        return bookkeeping.quoted(bookkeeping.LOCK)

    @property
    def version_table_quoted(self) -> str:
        return bookkeeping.quoted(bookkeeping.VERSION)

    def connect(self, dburi):  # noqa: ARG002 - yoyo's signature
        conn = dburl.connect(self._url, app=self._app, **self._settings)
        dburl.end_with_client(conn)
        self.schema = None
        return conn

    def copy(self) -> "Backend":
        return Backend(self._url, app=self._app, settings=self._settings)

    def ensure_internal_schema_updated(self) -> None:
        # bookkeeping.ensure() creates yoyo's tables (its layout version 2) in our schema,
        # under the migration lock, before yoyo is asked to write to them
        self._internal_schema_updated = True

    def _check_transactional_ddl(self) -> bool:
        # PostgreSQL has transactional DDL; yoyo's probe creates a table in the
        # current schema, which a role without CREATE there would misread as "no".
        return True

    @property
    def pid(self) -> int:
        return self.connection.info.backend_pid

    def conn(self) -> psycopg.Connection:
        return self.connection
