"""schema-tool: database-first PostgreSQL schemas, migrations, partitions and retention."""

__version__ = "0.1.0"
