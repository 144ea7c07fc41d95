-- ops 0007 rollback: the engine of ops_0002 comes back (its functions as they were), the
-- run-lock and bound-cache tables and the new functions go; partitions renamed to carry
-- their era get their old names back where those are free.

-- Data (as the migrating user, as ops_0007 renamed them) ------------------------------

DO $rename$
DECLARE
    v_part record;
BEGIN
    FOR v_part IN
        SELECT
            b.partition,
            ops.fit_name(r.parent_table, pg_catalog.to_char((b.lower_bound AT TIME ZONE 'UTC')::date, '"_"YYYY"_"MM'))
            AS old_name,
            b.partition_schema
        FROM ops.partitioned_tables AS r
        INNER JOIN pg_catalog.pg_namespace AS n ON r.parent_schema = n.nspname
        INNER JOIN pg_catalog.pg_class AS c ON n.oid = c.relnamespace AND r.parent_table = c.relname
        CROSS JOIN LATERAL ops.child_bounds(c.oid::regclass) AS b
        WHERE
            NOT b.is_default
            AND b.lower_bound > '-infinity'::timestamptz
            AND b.lower_bound < '0001-01-01 00:00:00+00'::timestamptz
            AND b.partition_name = ops.partition_name(r.parent_table, (b.lower_bound AT TIME ZONE 'UTC')::date)
    LOOP
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_part.partition_schema, v_part.old_name)) IS NULL THEN
            BEGIN
                EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', v_part.partition, v_part.old_name);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'partition % keeps its name: %', v_part.partition, sqlerrm;
            END;
        END IF;
    END LOOP;
END
$rename$;

SET LOCAL ROLE schema_tool_owner;

-- Functions as ops_0002 made them ---------------------------------------------------

CREATE OR REPLACE PROCEDURE ops.run_maintenance(p_parent regclass DEFAULT NULL, p_reference timestamptz DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION ops.set_retention(p_parent regclass, p_retention interval, p_retention_mode text DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION ops.unregister_partitioned_table(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.register_partitioned_table(
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

CREATE OR REPLACE FUNCTION ops.apply_retention(
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

CREATE OR REPLACE FUNCTION ops.ensure_default_partition(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.create_partition(p_parent regclass, p_month date, p_run uuid DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION ops.mirror_parent(p_parent regclass, p_child regclass)
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

CREATE OR REPLACE FUNCTION ops.partition_name(p_parent_table name, p_month date)
RETURNS name
LANGUAGE sql
IMMUTABLE
STRICT
RETURN ops.fit_name(p_parent_table, pg_catalog.to_char(p_month, '"_"YYYY"_"MM'));
COMMENT ON FUNCTION ops.partition_name(name, date) IS
'Name of the monthly child of a parent: <parent>_YYYY_MM, hashed to fit 63 bytes.';

-- What ops_0007 added -----------------------------------------------------------------

DROP FUNCTION ops.maintenance_plan(regclass, timestamptz, integer, text[]);
DROP FUNCTION ops.has_rows(regclass);
DROP FUNCTION ops.parent_plan(regclass, timestamptz, integer, integer, text[], interval);
DROP FUNCTION ops.make_partition(regclass, date, uuid, boolean, boolean);
DROP FUNCTION ops.default_contents(regclass);
DROP FUNCTION ops.remember_bounds(regclass);
DROP FUNCTION ops.holds_exclusive(regclass);
DROP FUNCTION ops.lock_parent(regclass);
DROP FUNCTION ops.release_run_lock(text);
DROP FUNCTION ops.take_run_lock(text);
DROP FUNCTION ops.advisory_holder(integer);
DROP FUNCTION ops.month_in_range(date);
DROP FUNCTION ops.check_parent(regclass, text);
DROP FUNCTION ops.check_mode(text, text);
DROP FUNCTION ops.check_retention(interval, text);
DROP FUNCTION ops.check_months(integer, text, boolean);
DROP FUNCTION ops.check_reference(timestamptz, text);
DROP FUNCTION ops.drain_cap();
DROP FUNCTION ops.key_range();
DROP TABLE ops.bound_cache;
DROP TABLE ops.run_locks;
