-- Catch-up of ops_0002_partition_engine for databases that applied one of its texts of
-- 790def9 to 7906cbe (the engine before set-based bound parsing, ops.drain_default, and
-- rows with no month staying in DEFAULT). Applied by the runner once, before anything
-- else, on such a database only: every function and view that differs in one of those
-- texts, verbatim from ops_0002_partition_engine.sql (tested), in its order, and the
-- old partition_plan overload that the current text no longer has. Tables are unchanged.

SET LOCAL ROLE schema_tool_owner;

-- partition_plan gained p_default_rows: the 4-argument overload would make calls ambiguous
DROP FUNCTION IF EXISTS ops.partition_plan(regclass, timestamptz, integer, integer);

CREATE OR REPLACE FUNCTION ops.control_type(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.bound_literal(p_type regtype, p_at timestamptz)
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

CREATE OR REPLACE FUNCTION ops.bound_value(p_type regtype, p_literal text)
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

CREATE OR REPLACE FUNCTION ops.child_bounds(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.partition_bounds(p_partition regclass)
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

CREATE OR REPLACE VIEW ops.partitions WITH (security_invoker = TRUE) AS
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

CREATE OR REPLACE FUNCTION ops.registered(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.default_partition(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.default_months(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.month_is_free(p_parent regclass, p_month date)
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

CREATE OR REPLACE FUNCTION ops.partition_plan(
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

CREATE OR REPLACE FUNCTION ops.retention_cutoff(
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

CREATE OR REPLACE FUNCTION ops.retention_plan(
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

CREATE OR REPLACE FUNCTION ops.log_step(
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

CREATE OR REPLACE FUNCTION ops.registered_parents(p_parent regclass DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION ops.ensure_partitions(
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

CREATE OR REPLACE FUNCTION ops.drain_default(p_parent regclass DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION ops.drop_or_detach(p_parent regclass, p_partition regclass, p_cutoff timestamptz, p_run uuid)
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
