"""yoyo's PostgreSQL (psycopg 3) backend, connected from a libpq URL without loss."""

from __future__ import annotations

import psycopg
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.migrations import default_migration_table

from schema_tool import dburl

CHECKSUM_TABLE = "_schema_tool_checksums"


class Backend(PostgresqlPsycopgBackend):
    """yoyo's backend, but the connection is made from the user's libpq URL as given.

    yoyo would rebuild a conninfo from its parsed URI and drop what it does not model
    (several hosts, percent-encoded socket paths, service files); we hand libpq the
    original string and give yoyo a translated URI only for its bookkeeping.
    """

    def __init__(self, url: str, *, app: str, settings: dict[str, str] | None = None):
        self._url = url
        self._app = app
        self._settings = settings or {}
        super().__init__(dburl.to_yoyo(url), default_migration_table)

    def connect(self, dburi):  # noqa: ARG002 - yoyo's signature
        conn = dburl.connect(self._url, app=self._app, **self._settings)
        dburl.end_with_client(conn)
        self.schema = None
        return conn

    def copy(self) -> "Backend":
        return Backend(self._url, app=self._app, settings=self._settings)

    def _check_transactional_ddl(self) -> bool:
        # PostgreSQL has transactional DDL; yoyo's probe creates a table in the
        # current schema, which a role without CREATE there would misread as "no".
        return True

    @property
    def pid(self) -> int:
        return self.connection.info.backend_pid

    def conn(self) -> psycopg.Connection:
        return self.connection
