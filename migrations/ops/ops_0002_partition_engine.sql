-- ops 0002: the partition and retention engine every system registers with.
-- depends: ops_0001_foundation
--
-- A registered parent is range-partitioned by month on one time column (timestamptz,
-- timestamp or date). Children are named <parent>_YYYY_MM and cover
-- [first of month, first of next month) in UTC; a DEFAULT partition catches whatever
-- has no month yet. Decisions (which months, which names, which partitions are past
-- retention) are made here, in SQL, once: the CLI renders its DDL from the same plans
-- (templates/) and the in-database path below executes them with format().

SET LOCAL ROLE schema_tool_owner;

-- Tables -----------------------------------------------------------------------------

CREATE TABLE ops.partitioned_tables (
    parent_schema name NOT NULL,
    parent_table name NOT NULL,
    control_column name NOT NULL,
    granularity text NOT NULL DEFAULT 'month',
    premake integer NOT NULL DEFAULT 3,
    start_months_back integer NOT NULL DEFAULT 0,
    retention interval,
    retention_mode text NOT NULL DEFAULT 'drop',
    archive_schema name,
    default_partition boolean NOT NULL DEFAULT TRUE,
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT partitioned_tables_pkey PRIMARY KEY (parent_schema, parent_table),
    CONSTRAINT chk_partitioned_tables_granularity CHECK (granularity = 'month'),
    CONSTRAINT chk_partitioned_tables_premake CHECK (premake BETWEEN 0 AND 120),
    CONSTRAINT chk_partitioned_tables_months_back CHECK (start_months_back BETWEEN 0 AND 240),
    CONSTRAINT chk_partitioned_tables_retention CHECK (retention IS NULL OR retention > interval '0'),
    CONSTRAINT chk_partitioned_tables_retention_mode CHECK (retention_mode IN ('drop', 'detach')),
    CONSTRAINT chk_partitioned_tables_archive CHECK (retention_mode = 'drop' OR archive_schema IS NOT NULL)
);
COMMENT ON TABLE ops.partitioned_tables IS
'Registry of monthly range-partitioned parents that maintenance keeps: partitions created '
'premake months ahead (start_months_back months back at registration), rows in the DEFAULT '
'partition moved to their month, partitions wholly older than retention dropped or detached '
'into archive_schema. Written by ops.register_partitioned_table(), read by both maintenance paths.';
COMMENT ON COLUMN ops.partitioned_tables.retention IS
'Partitions whose whole range ends at or before now() - retention go; NULL keeps everything.';

CREATE TABLE ops.maintenance_log (
    id bigint GENERATED ALWAYS AS IDENTITY,
    run_id uuid NOT NULL,
    path text NOT NULL,
    parent_schema name,
    parent_table name,
    action text NOT NULL,
    partition_name name,
    rows_moved bigint,
    duration_ms numeric(12, 3),
    detail text,
    logged_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT maintenance_log_pkey PRIMARY KEY (id),
    CONSTRAINT chk_maintenance_log_path CHECK (path IN ('cli', 'sql')),
    CONSTRAINT chk_maintenance_log_action CHECK (
        action IN ('create', 'drain', 'drop', 'detach', 'error', 'skip')
    ),
    CONSTRAINT chk_maintenance_log_rows CHECK (rows_moved IS NULL OR rows_moved >= 0)
);
COMMENT ON TABLE ops.maintenance_log IS
'One row per maintenance step by either path (cli: schema-tool, sql: ops.run_maintenance and '
'friends): partitions created, rows drained from DEFAULT partitions, partitions dropped or '
'detached, and errors. Rows older than 90 days are removed by maintenance itself.';

CREATE INDEX idx_maintenance_log_logged_at ON ops.maintenance_log (logged_at);
CREATE INDEX idx_maintenance_log_parent ON ops.maintenance_log (parent_schema, parent_table, logged_at);

GRANT SELECT ON ops.partitioned_tables, ops.maintenance_log TO schema_tool_readonly;

-- Naming, bounds and keys ------------------------------------------------------------

CREATE FUNCTION ops.fit_name(p_base text, p_suffix text)
RETURNS name
LANGUAGE plpgsql
IMMUTABLE
STRICT
AS $fn$
DECLARE
    v_keep text := p_base;
BEGIN
    IF octet_length(p_base || p_suffix) <= 63 THEN
        RETURN p_base || p_suffix;
    END IF;
    -- Too long for an identifier: keep a prefix, add a hash of the whole base so two
    -- long names with one prefix never collide, and keep the suffix readable.
    WHILE octet_length(v_keep) > 63 - octet_length(p_suffix) - 9 LOOP
        v_keep := left(v_keep, -1);
    END LOOP;
    RETURN v_keep || '_' || left(pg_catalog.md5(p_base), 8) || p_suffix;
END
$fn$;
COMMENT ON FUNCTION ops.fit_name(text, text) IS
'base || suffix when it fits in 63 bytes, else a byte-safe prefix of base, an 8-hex hash of base, '
'and suffix: deterministic and collision-free, never silently truncated by PostgreSQL.';

CREATE FUNCTION ops.partition_name(p_parent_table name, p_month date)
RETURNS name
LANGUAGE sql
IMMUTABLE
STRICT
RETURN ops.fit_name(p_parent_table, pg_catalog.to_char(p_month, '"_"YYYY"_"MM'));
COMMENT ON FUNCTION ops.partition_name(name, date) IS
'Name of the monthly child of a parent: <parent>_YYYY_MM, hashed to fit 63 bytes.';

CREATE FUNCTION ops.default_partition_name(p_parent_table name)
RETURNS name
LANGUAGE sql
IMMUTABLE
STRICT
RETURN ops.fit_name(p_parent_table, '_default');
COMMENT ON FUNCTION ops.default_partition_name(name) IS
'Name of the DEFAULT partition of a parent: <parent>_default, hashed to fit 63 bytes.';

CREATE FUNCTION ops.lock_key(p_parent regclass)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
STRICT
RETURN (x'5354'::bigint << 32) | p_parent::oid::bigint;
COMMENT ON FUNCTION ops.lock_key(regclass) IS
'Transaction advisory lock key serialising every partition change of one parent.';

CREATE FUNCTION ops.control_type(p_parent regclass)
RETURNS regtype
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
BEGIN
    RETURN (
        SELECT a.atttypid::regtype
        FROM pg_catalog.pg_partitioned_table AS pt
        INNER JOIN pg_catalog.pg_attribute AS a ON pt.partrelid = a.attrelid AND pt.partattrs[0] = a.attnum
        WHERE pt.partrelid = p_parent AND pt.partstrat = 'r' AND pt.partnatts = 1
    );
END
$fn$;
COMMENT ON FUNCTION ops.control_type(regclass) IS
'Type of the single range partition key column of a parent (NULL if it has no such key).';

CREATE FUNCTION ops.bound_literal(p_type regtype, p_at timestamptz)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
RETURN CASE p_type
    WHEN 'timestamp with time zone'::regtype
        THEN pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'
    WHEN 'timestamp without time zone'::regtype
        THEN pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
    WHEN 'date'::regtype
        THEN pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
END;
COMMENT ON FUNCTION ops.bound_literal(regtype, timestamptz) IS
'A partition bound for an instant, as a literal of the control column''s type, in UTC.';

CREATE FUNCTION ops.bound_value(p_type regtype, p_literal text)
RETURNS timestamptz
LANGUAGE sql
STABLE
RETURN CASE
    WHEN p_literal IS NULL OR p_literal = 'MINVALUE' THEN '-infinity'::timestamptz
    WHEN p_literal = 'MAXVALUE' THEN 'infinity'::timestamptz
    WHEN p_type = 'timestamp with time zone'::regtype THEN p_literal::timestamptz
    WHEN p_type = 'timestamp without time zone'::regtype THEN p_literal::timestamp AT TIME ZONE 'UTC'
    ELSE p_literal::date::timestamp AT TIME ZONE 'UTC'
END;
COMMENT ON FUNCTION ops.bound_value(regtype, text) IS
'The instant a catalog bound literal stands for (timestamp and date bounds read as UTC).';

CREATE FUNCTION ops.child_bounds(p_parent regclass)
RETURNS TABLE (
    partition regclass,
    partition_schema name,
    partition_name name,
    is_default boolean,
    lower_bound timestamptz,
    upper_bound timestamptz
)
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
DECLARE
    v_type regtype := ops.control_type(p_parent);
BEGIN
    RETURN QUERY
        WITH kids AS (
            SELECT
                c.oid,
                n.nspname,
                c.relname,
                pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
            FROM pg_catalog.pg_inherits AS i
            INNER JOIN pg_catalog.pg_class AS c ON i.inhrelid = c.oid
            INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
            WHERE i.inhparent = p_parent
        ),

        parsed AS MATERIALIZED (
            -- FOR VALUES FROM ('<lower>') TO ('<upper>') (or MINVALUE / MAXVALUE), or DEFAULT:
            -- parsed once, into plain columns so that ops.bound_value() is inlined
            SELECT
                k.oid,
                k.nspname,
                k.relname,
                k.bound = 'DEFAULT' AS is_default,
                pg_catalog.btrim(pg_catalog.split_part(substr(k.bound, 18), ') TO (', 1), '''') AS lower_literal,
                pg_catalog.btrim(pg_catalog.rtrim(pg_catalog.split_part(k.bound, ') TO (', 2), ')'), '''')
                AS upper_literal
            FROM kids AS k
            WHERE k.bound = 'DEFAULT' OR (k.bound LIKE 'FOR VALUES FROM (%) TO (%)' AND k.bound NOT LIKE '%,%')
        )

        SELECT
            p.oid::regclass AS partition,
            p.nspname AS partition_schema,
            p.relname AS partition_name,
            p.is_default,
            CASE WHEN NOT p.is_default THEN ops.bound_value(v_type, p.lower_literal) END AS lower_bound,
            CASE WHEN NOT p.is_default THEN ops.bound_value(v_type, p.upper_literal) END AS upper_bound
        FROM parsed AS p;
END
$fn$;
COMMENT ON FUNCTION ops.child_bounds(regclass) IS
'Every partition of a parent with its range read from the catalog (never from its name), as UTC '
'instants; is_default for the DEFAULT partition. One pass over the parent''s children.';

CREATE FUNCTION ops.partition_bounds(p_partition regclass)
RETURNS TABLE (lower_bound timestamptz, upper_bound timestamptz, is_default boolean)
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
BEGIN
    RETURN QUERY
        SELECT
            b.lower_bound,
            b.upper_bound,
            b.is_default
        FROM pg_catalog.pg_inherits AS i
        CROSS JOIN LATERAL ops.child_bounds(i.inhparent::regclass) AS b
        WHERE i.inhrelid = p_partition AND b.partition = p_partition;
END
$fn$;
COMMENT ON FUNCTION ops.partition_bounds(regclass) IS
'Range of a partition read from the catalog (never from its name); is_default for DEFAULT.';

CREATE VIEW ops.partitions WITH (security_invoker = TRUE) AS
SELECT
    r.parent_schema,
    r.parent_table,
    pc.oid::regclass AS parent,
    b.partition_schema,
    b.partition_name,
    b.partition,
    b.is_default,
    b.lower_bound,
    b.upper_bound,
    greatest(c.reltuples, 0)::bigint AS row_estimate,
    pg_catalog.pg_total_relation_size(c.oid) AS total_bytes
FROM ops.partitioned_tables AS r
INNER JOIN pg_catalog.pg_namespace AS pn ON r.parent_schema = pn.nspname
INNER JOIN pg_catalog.pg_class AS pc ON pn.oid = pc.relnamespace AND r.parent_table = pc.relname
CROSS JOIN LATERAL ops.child_bounds(pc.oid::regclass) AS b
INNER JOIN pg_catalog.pg_class AS c ON b.partition = c.oid;
COMMENT ON VIEW ops.partitions IS
'Every partition of every registered parent with its bounds from the catalog (UTC instants), '
'estimated rows and size on disk.';
GRANT SELECT ON ops.partitions TO schema_tool_readonly;

CREATE FUNCTION ops.registered(p_parent regclass)
RETURNS ops.partitioned_tables
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
DECLARE
    v_row ops.partitioned_tables;
BEGIN
    SELECT r.* INTO v_row
    FROM ops.partitioned_tables AS r
    INNER JOIN pg_catalog.pg_class AS c ON r.parent_table = c.relname
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid AND r.parent_schema = n.nspname
    WHERE c.oid = p_parent;
    RETURN v_row;
END
$fn$;
COMMENT ON FUNCTION ops.registered(regclass) IS 'The registry row of a parent, or NULL.';

CREATE FUNCTION ops.default_partition(p_parent regclass)
RETURNS regclass
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
BEGIN
    RETURN (
        SELECT c.oid::regclass
        FROM pg_catalog.pg_inherits AS i
        INNER JOIN pg_catalog.pg_class AS c ON i.inhrelid = c.oid
        WHERE i.inhparent = p_parent AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
    );
END
$fn$;
COMMENT ON FUNCTION ops.default_partition(regclass) IS 'The DEFAULT partition of a parent, or NULL.';

-- Plans: what maintenance would do, shared by the CLI and the in-database path -------

CREATE FUNCTION ops.default_months(p_parent regclass)
RETURNS TABLE (month date, row_count bigint)
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_default regclass := ops.default_partition(p_parent);
    v_type regtype := ops.control_type(p_parent);
    v_month text;
BEGIN
    IF v_default IS NULL OR v_reg IS NULL THEN
        RETURN;
    END IF;
    v_month := CASE v_type
        WHEN 'timestamp with time zone'::regtype
            THEN pg_catalog.format('(pg_catalog.date_trunc(''month'', %I, ''UTC'') AT TIME ZONE ''UTC'')::date',
                                   v_reg.control_column)
        ELSE pg_catalog.format('pg_catalog.date_trunc(''month'', %I)::date', v_reg.control_column)
    END;
    RETURN QUERY EXECUTE pg_catalog.format(
        -- NULL and +/-infinity have no month: they stay in DEFAULT (and never stop maintenance)
        'SELECT %s, pg_catalog.count(*) FROM %s WHERE pg_catalog.isfinite(%I) GROUP BY 1 ORDER BY 1',
        v_month, v_default, v_reg.control_column
    );
END
$fn$;
COMMENT ON FUNCTION ops.default_months(regclass) IS
'Months (UTC) that have rows waiting in the DEFAULT partition of a registered parent, with counts.';

CREATE FUNCTION ops.month_is_free(p_parent regclass, p_month date)
RETURNS boolean
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
BEGIN
    RETURN (
        SELECT NOT EXISTS (
            SELECT
            FROM ops.child_bounds(p_parent) AS b
            WHERE
                NOT b.is_default
                AND b.lower_bound < (p_month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                AND b.upper_bound > p_month::timestamp AT TIME ZONE 'UTC'
        )
    );
END
$fn$;
COMMENT ON FUNCTION ops.month_is_free(regclass, date) IS
'True when no partition of the parent covers any part of the month (UTC).';

CREATE FUNCTION ops.partition_plan(
    p_parent regclass,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_premake integer DEFAULT NULL,
    p_months_back integer DEFAULT 0,
    p_default_rows boolean DEFAULT TRUE
)
RETURNS TABLE (
    month date,
    partition_schema name,
    partition_name name,
    lower_literal text,
    upper_literal text,
    default_rows bigint,
    reason text
)
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_type regtype := ops.control_type(p_parent);
    v_this_month date := pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC')::date;
BEGIN
    IF v_reg IS NULL THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object', HINT = 'call ops.register_partitioned_table() first';
    END IF;
    RETURN QUERY
    WITH wanted AS (
        SELECT
            m::date AS month,
            CASE WHEN m < v_this_month THEN 'setup' ELSE 'ahead' END AS reason
        FROM pg_catalog.generate_series(
            v_this_month - pg_catalog.make_interval(months => p_months_back),
            v_this_month + pg_catalog.make_interval(months => coalesce(p_premake, v_reg.premake)),
            interval '1 month'
        ) AS m
    ),

    waiting AS (
        SELECT d.month, d.row_count FROM ops.default_months(p_parent) AS d
    ),

    existing AS MATERIALIZED (
        SELECT b.lower_bound, b.upper_bound FROM ops.child_bounds(p_parent) AS b WHERE NOT b.is_default
    )

    SELECT
        c.month,
        v_reg.parent_schema,
        ops.partition_name(v_reg.parent_table, c.month),
        ops.bound_literal(v_type, c.month::timestamp AT TIME ZONE 'UTC'),
        ops.bound_literal(v_type, (c.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'),
        c.row_count,
        c.reason
    FROM (
        SELECT
            coalesce(w.month, d.month) AS month,
            coalesce(d.row_count, 0) AS row_count,
            coalesce(w.reason, 'default rows') AS reason
        FROM wanted AS w
        FULL JOIN waiting AS d ON w.month = d.month
    ) AS c
    WHERE
        (p_default_rows OR c.reason <> 'default rows')
        AND NOT EXISTS (
            SELECT
            FROM existing AS e
            WHERE
                e.lower_bound < (c.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                AND e.upper_bound > c.month::timestamp AT TIME ZONE 'UTC'
        )
    ORDER BY c.month;
END
$fn$;
COMMENT ON FUNCTION ops.partition_plan(regclass, timestamptz, integer, integer, boolean) IS
'Months a parent still needs, each with its child name and bound literals: the reference month '
'and premake months ahead, p_months_back months back, and (unless p_default_rows is false) every '
'other month with rows waiting in the DEFAULT partition. default_rows > 0: created by moving them.';

CREATE FUNCTION ops.retention_cutoff(
    p_parent regclass,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_retention interval DEFAULT NULL
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    -- never the month of the reference date, nor a later one
    RETURN (
        SELECT
            least(
                p_reference - coalesce(p_retention, r.retention),
                pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            ) AS cutoff
        FROM ops.partitioned_tables AS r
        INNER JOIN pg_catalog.pg_class AS c ON r.parent_table = c.relname
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid AND r.parent_schema = n.nspname
        WHERE c.oid = p_parent AND coalesce(p_retention, r.retention) IS NOT NULL
    );
END
$fn$;
COMMENT ON FUNCTION ops.retention_cutoff(regclass, timestamptz, interval) IS
'Partitions ending at or before this instant are past retention: reference - retention, but never '
'later than the start of the reference month (UTC). NULL when the parent keeps everything.';

CREATE FUNCTION ops.retention_plan(
    p_parent regclass,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_retention interval DEFAULT NULL
)
RETURNS TABLE (
    partition regclass,
    partition_schema name,
    partition_name name,
    lower_bound timestamptz,
    upper_bound timestamptz,
    action text,
    archive_schema name
)
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_cutoff timestamptz := ops.retention_cutoff(p_parent, p_reference, p_retention);
BEGIN
    IF v_reg IS NULL THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object';
    END IF;
    IF v_cutoff IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT
        b.partition,
        b.partition_schema,
        b.partition_name,
        b.lower_bound,
        b.upper_bound,
        v_reg.retention_mode,
        v_reg.archive_schema
    FROM ops.child_bounds(p_parent) AS b
    WHERE
        NOT b.is_default
        AND b.upper_bound <= v_cutoff
        AND b.upper_bound > '-infinity'::timestamptz
    ORDER BY b.lower_bound;
END
$fn$;
COMMENT ON FUNCTION ops.retention_plan(regclass, timestamptz, interval) IS
'Partitions of a parent whose whole range ends at or before reference - retention (and before '
'the reference month): what retention drops or detaches. p_retention overrides the registry.';

-- The in-database path: each change in the caller's transaction ----------------------

CREATE FUNCTION ops.log_step(
    p_run uuid, p_parent regclass, p_action text, p_partition name,
    p_rows bigint, p_started timestamptz, p_detail text DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    INSERT INTO ops.maintenance_log (
        run_id, path, parent_schema, parent_table, action, partition_name, rows_moved, duration_ms, detail
    )
    SELECT
        p_run AS run_id,
        'sql' AS path,
        n.nspname AS parent_schema,
        c.relname AS parent_table,
        p_action AS action,
        p_partition AS partition_name,
        p_rows AS rows_moved,
        round((extract(EPOCH FROM pg_catalog.clock_timestamp() - p_started) * 1000)::numeric, 3) AS duration_ms,
        p_detail AS detail
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    WHERE c.oid = p_parent;
END
$fn$;
COMMENT ON FUNCTION ops.log_step(uuid, regclass, text, name, bigint, timestamptz, text) IS
'Writes one in-database maintenance step to ops.maintenance_log.';

CREATE FUNCTION ops.mirror_parent(p_parent regclass, p_child regclass)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_parent pg_catalog.pg_class;
BEGIN
    SELECT * INTO v_parent FROM pg_catalog.pg_class WHERE oid = p_parent;
    IF v_parent.relowner <> (SELECT relowner FROM pg_catalog.pg_class WHERE oid = p_child) THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', p_child, pg_catalog.pg_get_userbyid(v_parent.relowner));
    END IF;
    IF v_parent.relrowsecurity THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_child);
    END IF;
    IF v_parent.relforcerowsecurity THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_child);
    END IF;
END
$fn$;
COMMENT ON FUNCTION ops.mirror_parent(regclass, regclass) IS
'Gives a new child its parent''s owner and row level security settings (no grants: the '
'children are reached through the parent, whose privileges and policies apply).';

CREATE FUNCTION ops.create_partition(p_parent regclass, p_month date, p_run uuid DEFAULT NULL)
RETURNS TABLE (partition_name name, created boolean, rows_moved bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_type regtype := ops.control_type(p_parent);
    v_month date := pg_catalog.date_trunc('month', p_month)::date;
    v_default regclass := ops.default_partition(p_parent);
    v_child text;
    v_lower text;
    v_upper text;
    v_columns text;
    v_triggers name [];
    v_trigger name;
    v_moved bigint := 0;
BEGIN
    IF v_reg IS NULL THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(ops.lock_key(p_parent));
    partition_name := ops.partition_name(v_reg.parent_table, v_month);
    IF NOT ops.month_is_free(p_parent, v_month) THEN
        created := FALSE;
        rows_moved := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    v_child := pg_catalog.format('%I.%I', v_reg.parent_schema, partition_name);
    v_lower := ops.bound_literal(v_type, v_month::timestamp AT TIME ZONE 'UTC');
    v_upper := ops.bound_literal(v_type, (v_month + interval '1 month')::timestamp AT TIME ZONE 'UTC');

    EXECUTE pg_catalog.format(
        'CREATE TABLE %s (LIKE %s INCLUDING ALL '
        'EXCLUDING INDEXES EXCLUDING IDENTITY EXCLUDING STATISTICS EXCLUDING COMMENTS)', v_child, p_parent
    );
    PERFORM ops.mirror_parent(p_parent, v_child::regclass);

    IF v_default IS NOT NULL THEN
        -- Rows of this month may sit in the DEFAULT partition (PostgreSQL refuses to
        -- attach over them): lock out new ones, move them, then attach.
        EXECUTE pg_catalog.format('LOCK TABLE %s IN EXCLUSIVE MODE', v_default);
        SELECT pg_catalog.array_agg(t.tgname ORDER BY t.tgname) INTO v_triggers
        FROM pg_catalog.pg_trigger AS t
        WHERE t.tgrelid = v_default AND NOT t.tgisinternal AND t.tgenabled <> 'D';
        FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
            EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER %I', v_default, v_trigger);
        END LOOP;
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
        EXECUTE pg_catalog.format(
            'WITH moved AS (DELETE FROM %s WHERE %I >= %L AND %I < %L RETURNING %s), '
            'inserted AS (INSERT INTO %s (%s) SELECT %s FROM moved RETURNING 1) '
            'SELECT pg_catalog.count(*) AS rows_moved FROM inserted',
            v_default, v_reg.control_column, v_lower, v_reg.control_column, v_upper, v_columns,
            v_child, v_columns, v_columns
        ) INTO v_moved;
        FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
            EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', v_default, v_trigger);
        END LOOP;
    END IF;

    EXECUTE pg_catalog.format(
        'ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)', p_parent, v_child, v_lower, v_upper
    );
    PERFORM ops.log_step(
        coalesce(p_run, gen_random_uuid()), p_parent, CASE WHEN v_moved > 0 THEN 'drain' ELSE 'create' END,
        partition_name, v_moved, v_started
    );
    created := TRUE;
    rows_moved := v_moved;
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION ops.create_partition(regclass, date, uuid) IS
'Creates the month''s partition of a registered parent as a plain table, moves that month''s rows '
'out of the DEFAULT partition into it, and attaches it (SHARE UPDATE EXCLUSIVE on the parent). '
'Serialised per parent and idempotent: created is false when the month is already covered.';

CREATE FUNCTION ops.ensure_default_partition(p_parent regclass)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_name name;
BEGIN
    IF v_reg IS NULL OR NOT v_reg.default_partition THEN
        RETURN FALSE;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(ops.lock_key(p_parent));
    IF ops.default_partition(p_parent) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    v_name := ops.default_partition_name(v_reg.parent_table);
    EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', v_reg.parent_schema, v_name, p_parent);
    PERFORM ops.mirror_parent(p_parent, pg_catalog.format('%I.%I', v_reg.parent_schema, v_name)::regclass);
    RETURN TRUE;
END
$fn$;
COMMENT ON FUNCTION ops.ensure_default_partition(regclass) IS
'Creates the DEFAULT partition <parent>_default of a registered parent that wants one and lacks it.';

CREATE FUNCTION ops.registered_parents(p_parent regclass DEFAULT NULL)
RETURNS SETOF regclass
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    RETURN QUERY
        SELECT c.oid::regclass
        FROM ops.partitioned_tables AS r
        INNER JOIN pg_catalog.pg_namespace AS n ON r.parent_schema = n.nspname
        INNER JOIN pg_catalog.pg_class AS c ON n.oid = c.relnamespace AND r.parent_table = c.relname
        WHERE p_parent IS NULL OR c.oid = p_parent
        ORDER BY r.parent_schema, r.parent_table;
END
$fn$;
COMMENT ON FUNCTION ops.registered_parents(regclass) IS
'Registered parents that exist (all, or the one given), in a stable order.';

CREATE FUNCTION ops.ensure_partitions(
    p_parent regclass DEFAULT NULL,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_premake integer DEFAULT NULL,
    p_months_back integer DEFAULT 0
)
RETURNS TABLE (parent regclass, partition_name name, rows_moved bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := gen_random_uuid();
    v_month date;
    v_made record;
BEGIN
    FOR parent IN SELECT r.p FROM ops.registered_parents(p_parent) AS r (p) LOOP
        PERFORM ops.ensure_default_partition(parent);
        FOR v_month IN
            SELECT pl.month FROM ops.partition_plan(parent, p_reference, p_premake, p_months_back, FALSE) AS pl
        LOOP
            SELECT * INTO v_made FROM ops.create_partition(parent, v_month, v_run);
            IF v_made.created THEN
                partition_name := v_made.partition_name;
                rows_moved := v_made.rows_moved;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ops.ensure_partitions(regclass, timestamptz, integer, integer) IS
'Creates the DEFAULT partition and the months from p_months_back back to premake ahead that are '
'missing, for one registered parent or all, in the caller''s transaction (rows of those months '
'waiting in DEFAULT move in). CALL ops.run_maintenance() does one transaction per partition. '
'Returns the partitions it created.';

CREATE FUNCTION ops.drain_default(p_parent regclass DEFAULT NULL)
RETURNS TABLE (parent regclass, partition_name name, rows_moved bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := gen_random_uuid();
    v_month date;
    v_made record;
BEGIN
    FOR parent IN SELECT r.p FROM ops.registered_parents(p_parent) AS r (p) LOOP
        FOR v_month IN SELECT d.month FROM ops.default_months(parent) AS d LOOP
            SELECT * INTO v_made FROM ops.create_partition(parent, v_month, v_run);
            IF v_made.created THEN
                partition_name := v_made.partition_name;
                rows_moved := v_made.rows_moved;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ops.drain_default(regclass) IS
'Moves every row waiting in the DEFAULT partition of one registered parent (or all) into its '
'month''s partition, creating it; in the caller''s transaction. Returns what it created.';

CREATE FUNCTION ops.drop_or_detach(p_parent regclass, p_partition regclass, p_cutoff timestamptz, p_run uuid)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_upper timestamptz;
    v_default boolean;
    v_name name;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(ops.lock_key(p_parent));
    SELECT b.upper_bound, b.is_default INTO v_upper, v_default
    FROM ops.child_bounds(p_parent) AS b
    WHERE b.partition = p_partition;
    IF NOT FOUND OR v_default OR v_upper > p_cutoff THEN
        RETURN 'skip';  -- gone meanwhile, or not (or no longer) past retention
    END IF;
    SELECT c.relname INTO v_name FROM pg_catalog.pg_class AS c WHERE c.oid = p_partition;
    IF v_reg.retention_mode = 'detach' THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', p_parent, p_partition);
        EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA %I', p_partition, v_reg.archive_schema);
    ELSE
        EXECUTE pg_catalog.format('DROP TABLE %s', p_partition);
    END IF;
    PERFORM ops.log_step(p_run, p_parent, v_reg.retention_mode, v_name, NULL, v_started);
    RETURN v_reg.retention_mode;
END
$fn$;
COMMENT ON FUNCTION ops.drop_or_detach(regclass, regclass, timestamptz, uuid) IS
'Drops a partition, or detaches it into the archive schema, after re-checking under the parent''s '
'lock that it is still attached, not the DEFAULT partition, and wholly before the cutoff.';

CREATE FUNCTION ops.apply_retention(
    p_parent regclass DEFAULT NULL,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_retention interval DEFAULT NULL
)
RETURNS TABLE (parent regclass, partition_name name, action text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := gen_random_uuid();
    v_part record;
BEGIN
    FOR parent IN SELECT r.p FROM ops.registered_parents(p_parent) AS r (p) LOOP
        FOR v_part IN SELECT * FROM ops.retention_plan(parent, p_reference, p_retention) LOOP
            action := ops.drop_or_detach(
                parent, v_part.partition, ops.retention_cutoff(parent, p_reference, p_retention), v_run
            );
            IF action <> 'skip' THEN
                partition_name := v_part.partition_name;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ops.apply_retention(regclass, timestamptz, interval) IS
'Drops or detaches what ops.retention_plan() lists, for one registered parent or all, in the '
'caller''s transaction. p_retention overrides the registry (for callers such as '
'cleanup_old_audit_logs(retention_days)). Returns what it removed.';

-- Registration -------------------------------------------------------------------------

CREATE FUNCTION ops.register_partitioned_table(
    p_parent regclass,
    p_control_column name,
    p_premake integer DEFAULT 3,
    p_start_months_back integer DEFAULT 0,
    p_retention interval DEFAULT NULL,
    p_retention_mode text DEFAULT 'drop',
    p_archive_schema name DEFAULT NULL,
    p_default_partition boolean DEFAULT TRUE
)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_schema name;
    v_table name;
    v_type regtype := ops.control_type(p_parent);
    v_column name;
    v_archive name;
BEGIN
    SELECT n.nspname, c.relname INTO v_schema, v_table
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    WHERE c.oid = p_parent;
    SELECT a.attname INTO v_column
    FROM pg_catalog.pg_partitioned_table AS pt
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = p_parent AND pt.partstrat = 'r' AND pt.partnatts = 1;
    IF v_column IS DISTINCT FROM p_control_column THEN
        RAISE EXCEPTION '% must be range-partitioned on exactly the column %', p_parent, p_control_column
            USING ERRCODE = 'invalid_table_definition';
    END IF;
    IF v_type NOT IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype, 'date'::regtype)
    THEN
        RAISE EXCEPTION 'partition key %.% is of type %; monthly partitions need timestamptz, timestamp or date',
            p_parent, p_control_column, v_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF p_retention_mode = 'detach' THEN
        v_archive := coalesce(p_archive_schema, ops.fit_name(v_schema, '_archive'));
        EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', v_archive);
    END IF;

    INSERT INTO ops.partitioned_tables AS r (
        parent_schema, parent_table, control_column, premake, start_months_back,
        retention, retention_mode, archive_schema, default_partition
    )
    VALUES (
        v_schema, v_table, p_control_column, p_premake, p_start_months_back,
        p_retention, p_retention_mode, v_archive, p_default_partition
    )
    ON CONFLICT (parent_schema, parent_table) DO UPDATE
    SET control_column = excluded.control_column,
        premake = excluded.premake,
        start_months_back = excluded.start_months_back,
        retention = excluded.retention,
        retention_mode = excluded.retention_mode,
        archive_schema = excluded.archive_schema,
        default_partition = excluded.default_partition,
        updated_at = pg_catalog.now();

    PERFORM ops.ensure_partitions(p_parent, pg_catalog.now(), p_premake, p_start_months_back);
END
$fn$;
COMMENT ON FUNCTION ops.register_partitioned_table(regclass, name, integer, integer, interval, text, name, boolean) IS
'Registers a parent range-partitioned by month on p_control_column and sets it up at once: its '
'DEFAULT partition (unless p_default_partition is false), and partitions from p_start_months_back '
'months back to p_premake months ahead. Retention: NULL keeps everything; mode drop, or detach '
'into p_archive_schema (default <schema>_archive, created here). Idempotent: re-registering '
'updates the settings.';

CREATE FUNCTION ops.unregister_partitioned_table(p_parent regclass)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
BEGIN
    IF v_reg IS NULL THEN
        RETURN FALSE;
    END IF;
    DELETE FROM ops.partitioned_tables
    WHERE parent_schema = v_reg.parent_schema AND parent_table = v_reg.parent_table;
    IF v_reg.archive_schema IS NOT NULL
        AND NOT EXISTS (SELECT FROM ops.partitioned_tables WHERE archive_schema = v_reg.archive_schema)
        AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_class AS c
            INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
            WHERE n.nspname = v_reg.archive_schema
        )
    THEN
        EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I', v_reg.archive_schema);
    END IF;
    RETURN TRUE;
END
$fn$;
COMMENT ON FUNCTION ops.unregister_partitioned_table(regclass) IS
'Removes a parent from maintenance (its partitions stay); drops its archive schema if nothing '
'uses it and it is empty. For rollbacks, before the parent is dropped.';

CREATE FUNCTION ops.set_retention(p_parent regclass, p_retention interval, p_retention_mode text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
BEGIN
    IF v_reg IS NULL THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object';
    END IF;
    IF p_retention_mode = 'detach' AND v_reg.archive_schema IS NULL THEN
        v_reg.archive_schema := ops.fit_name(v_reg.parent_schema, '_archive');
        EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', v_reg.archive_schema);
    END IF;
    UPDATE ops.partitioned_tables
    SET retention = p_retention,
        retention_mode = coalesce(p_retention_mode, retention_mode),
        archive_schema = v_reg.archive_schema,
        updated_at = pg_catalog.now()
    WHERE parent_schema = v_reg.parent_schema AND parent_table = v_reg.parent_table;
END
$fn$;
COMMENT ON FUNCTION ops.set_retention(regclass, interval, text) IS
'Changes how long a registered parent keeps its partitions (NULL: forever) and, optionally, '
'whether old ones are dropped or detached.';

-- For pg_cron: one transaction per partition, one run at a time ----------------------

CREATE PROCEDURE ops.run_maintenance(p_parent regclass DEFAULT NULL, p_reference timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := gen_random_uuid();
    v_reference timestamptz := coalesce(p_reference, pg_catalog.now());
    v_parents regclass [];
    v_parent regclass;
    v_months date [];
    v_month date;
    v_doomed regclass [];
    v_partition regclass;
    v_started timestamptz;
    v_failed integer := 0;
    v_ok boolean;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RAISE NOTICE 'this server is a standby: maintenance is a no-op here';
        RETURN;
    END IF;
    IF NOT pg_catalog.pg_try_advisory_lock(21332, 2) THEN
        RAISE NOTICE 'another maintenance run holds the lock';
        RETURN;
    END IF;
    DELETE FROM ops.maintenance_log WHERE logged_at < pg_catalog.now() - interval '90 days';
    SELECT pg_catalog.array_agg(r.p) INTO v_parents FROM ops.registered_parents(p_parent) AS r (p);
    COMMIT;
    FOREACH v_parent IN ARRAY coalesce(v_parents, '{}') LOOP
        -- one transaction for the plan, then one per partition; the first error ends
        -- this parent's run (logged), the next parent still gets its maintenance
        v_started := pg_catalog.clock_timestamp();
        v_ok := TRUE;
        BEGIN
            PERFORM ops.ensure_default_partition(v_parent);
            SELECT pg_catalog.array_agg(pl.month ORDER BY pl.month) INTO v_months
            FROM ops.partition_plan(v_parent, v_reference) AS pl;
        EXCEPTION WHEN OTHERS THEN
            v_ok := FALSE;
            RAISE WARNING 'maintenance of % failed: %', v_parent, sqlerrm;
            PERFORM ops.log_step(v_run, v_parent, 'error', NULL, NULL, v_started, sqlstate || ': ' || sqlerrm);
        END;
        COMMIT;
        FOREACH v_month IN ARRAY CASE WHEN v_ok THEN coalesce(v_months, '{}') ELSE '{}' END LOOP
            v_started := pg_catalog.clock_timestamp();
            BEGIN
                PERFORM ops.create_partition(v_parent, v_month, v_run);
            EXCEPTION WHEN OTHERS THEN
                v_ok := FALSE;
                RAISE WARNING 'maintenance of % failed: %', v_parent, sqlerrm;
                PERFORM ops.log_step(
                    v_run, v_parent, 'error', ops.partition_name(
                        (ops.registered(v_parent)).parent_table, v_month
                    ), NULL, v_started, sqlstate || ': ' || sqlerrm
                );
            END;
            COMMIT;
            EXIT WHEN NOT v_ok;
        END LOOP;
        IF v_ok THEN
            -- planned after the drain, so rows moved out of DEFAULT obey retention too
            BEGIN
                SELECT pg_catalog.array_agg(rp.partition ORDER BY rp.lower_bound) INTO v_doomed
                FROM ops.retention_plan(v_parent, v_reference) AS rp;
            EXCEPTION WHEN OTHERS THEN
                v_ok := FALSE;
                RAISE WARNING 'maintenance of % failed: %', v_parent, sqlerrm;
                PERFORM ops.log_step(v_run, v_parent, 'error', NULL, NULL, v_started, sqlstate || ': ' || sqlerrm);
            END;
        END IF;
        FOREACH v_partition IN ARRAY CASE WHEN v_ok THEN coalesce(v_doomed, '{}') ELSE '{}' END LOOP
            v_started := pg_catalog.clock_timestamp();
            BEGIN
                PERFORM ops.drop_or_detach(
                    v_parent, v_partition, ops.retention_cutoff(v_parent, v_reference), v_run
                );
            EXCEPTION WHEN OTHERS THEN
                v_ok := FALSE;
                RAISE WARNING 'maintenance of % failed: %', v_parent, sqlerrm;
                PERFORM ops.log_step(v_run, v_parent, 'error', NULL, NULL, v_started, sqlstate || ': ' || sqlerrm);
            END;
            COMMIT;
            EXIT WHEN NOT v_ok;
        END LOOP;
        IF NOT v_ok THEN
            v_failed := v_failed + 1;
        END IF;
    END LOOP;
    PERFORM pg_catalog.pg_advisory_unlock(21332, 2);
    IF v_failed > 0 THEN
        RAISE WARNING 'maintenance finished with % failed table(s); see ops.maintenance_log', v_failed;
    END IF;
END
$fn$;
COMMENT ON PROCEDURE ops.run_maintenance(regclass, timestamptz) IS  -- noqa: LT01
'Everything schema-tool maintain does, from SQL (pg_cron: CALL ops.run_maintenance()): per '
'registered parent, create missing partitions, move rows out of the DEFAULT partition, apply '
'retention; one transaction per partition, one run at a time (the same advisory lock as the CLI). '
'A failing parent is logged and the others still get their maintenance. No-op on a standby.';
