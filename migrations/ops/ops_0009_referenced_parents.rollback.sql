-- ops 0009 rollback: the engine steps as ops_0007 made them; the reference machinery goes.

SET LOCAL ROLE schema_tool_owner;

CREATE OR REPLACE FUNCTION ops.make_partition(
    p_parent regclass, p_month date, p_run uuid, p_exclusive boolean, p_checked boolean DEFAULT FALSE
)
RETURNS TABLE (partition_name name, created boolean, rows_moved bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_parent record;
    v_child text;
    v_lower text;
    v_upper text;
    v_waiting boolean := FALSE;
    v_settings text [] := '{}';
    v_columns text;
    v_triggers name [];
    v_trigger name;
    v_moved bigint := 0;
BEGIN
    IF NOT p_checked AND NOT ops.lock_parent(p_parent) THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object';
    END IF;
    -- everything about the parent in one catalog query (this runs once per partition)
    SELECT
        r.parent_schema,
        r.parent_table,
        r.control_column,
        a.atttypid::regtype AS control_type,
        nullif(pt.partdefid, 0)::regclass AS default_partition,
        pg_catalog.pg_get_userbyid(c.relowner) AS owner,
        c.relrowsecurity,
        c.relforcerowsecurity
    INTO v_parent
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    INNER JOIN ops.partitioned_tables AS r ON n.nspname = r.parent_schema AND c.relname = r.parent_table
    INNER JOIN pg_catalog.pg_partitioned_table AS pt ON c.oid = pt.partrelid
    INNER JOIN pg_catalog.pg_attribute AS a ON c.oid = a.attrelid AND pt.partattrs[0] = a.attnum
    WHERE c.oid = p_parent;
    partition_name := ops.partition_name(v_parent.parent_table, p_month);
    IF NOT p_checked AND NOT ops.month_is_free(p_parent, p_month) THEN
        created := FALSE;
        rows_moved := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    v_child := pg_catalog.format('%I.%I', v_parent.parent_schema, partition_name);
    v_lower := ops.bound_literal(v_parent.control_type, p_month::timestamp AT TIME ZONE 'UTC');
    v_upper := ops.bound_literal(v_parent.control_type, (p_month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    -- the child gets its parent's owner and row level security settings (no grants: children
    -- are reached through the parent, whose privileges and policies apply)
    IF v_parent.owner <> current_user THEN
        v_settings := v_settings || pg_catalog.format('OWNER TO %I', v_parent.owner);
    END IF;
    IF v_parent.relrowsecurity THEN
        v_settings := v_settings || 'ENABLE ROW LEVEL SECURITY'::text;
    END IF;
    IF v_parent.relforcerowsecurity THEN
        v_settings := v_settings || 'FORCE ROW LEVEL SECURITY'::text;
    END IF;

    IF v_parent.default_partition IS NOT NULL AND p_exclusive AND NOT ops.has_rows(v_parent.default_partition) THEN
        v_waiting := FALSE;  -- no row reaches DEFAULT while this transaction locks the parent
    ELSIF v_parent.default_partition IS NOT NULL THEN
        -- no new rows of this month in DEFAULT from here on; are there any now?
        EXECUTE pg_catalog.format('LOCK TABLE %s IN EXCLUSIVE MODE', v_parent.default_partition);
        EXECUTE pg_catalog.format(
            'SELECT EXISTS (SELECT FROM ONLY %s WHERE %I >= %L AND %I < %L)',
            v_parent.default_partition, v_parent.control_column, v_lower, v_parent.control_column, v_upper
        ) INTO v_waiting;
    END IF;

    IF p_exclusive AND NOT v_waiting THEN
        -- the transaction holds ACCESS EXCLUSIVE on the parent already: one statement
        EXECUTE pg_catalog.format(
            'CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', v_child, p_parent, v_lower, v_upper
        );
        IF pg_catalog.cardinality(v_settings) > 0 THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s %s', v_child, pg_catalog.array_to_string(v_settings, ', '));
        END IF;
    ELSE
        -- a plain table first: attaching it takes only SHARE UPDATE EXCLUSIVE on the parent
        EXECUTE pg_catalog.format(
            'CREATE TABLE %s (LIKE %s INCLUDING ALL '
            'EXCLUDING INDEXES EXCLUDING IDENTITY EXCLUDING STATISTICS EXCLUDING COMMENTS)', v_child, p_parent
        );
        IF pg_catalog.cardinality(v_settings) > 0 THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s %s', v_child, pg_catalog.array_to_string(v_settings, ', '));
        END IF;
        IF v_waiting THEN
            -- PostgreSQL refuses to attach a range the DEFAULT partition has rows in: move
            -- them (without firing the DEFAULT partition's own triggers), then attach
            SELECT pg_catalog.array_agg(t.tgname ORDER BY t.tgname) INTO v_triggers
            FROM pg_catalog.pg_trigger AS t
            WHERE t.tgrelid = v_parent.default_partition AND NOT t.tgisinternal AND t.tgenabled <> 'D';
            FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
                EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER %I', v_parent.default_partition, v_trigger);
            END LOOP;
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
            EXECUTE pg_catalog.format(
                'WITH moved AS (DELETE FROM ONLY %s WHERE %I >= %L AND %I < %L RETURNING %s), '
                'inserted AS (INSERT INTO %s (%s) SELECT %s FROM moved RETURNING 1) '
                'SELECT pg_catalog.count(*) AS rows_moved FROM inserted',
                v_parent.default_partition, v_parent.control_column, v_lower, v_parent.control_column, v_upper,
                v_columns, v_child, v_columns, v_columns
            ) INTO v_moved;
            FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
                EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', v_parent.default_partition, v_trigger);
            END LOOP;
        END IF;
        EXECUTE pg_catalog.format(
            'ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)', p_parent, v_child, v_lower, v_upper
        );
    END IF;

    INSERT INTO ops.bound_cache AS bc (partition, parent, bound_md5, is_default, lower_bound, upper_bound)
    SELECT
        c.oid,
        p_parent::oid,
        pg_catalog.md5(c.relpartbound::text),
        FALSE,
        p_month::timestamp AT TIME ZONE 'UTC',
        (p_month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = v_child::regclass
    ON CONFLICT (partition) DO UPDATE
    SET parent = excluded.parent,
        bound_md5 = excluded.bound_md5,
        is_default = excluded.is_default,
        lower_bound = excluded.lower_bound,
        upper_bound = excluded.upper_bound;
    INSERT INTO ops.maintenance_log (
        run_id, path, parent_schema, parent_table, action, partition_name, rows_moved, duration_ms
    )
    VALUES (
        coalesce(p_run, pg_catalog.gen_random_uuid()), 'sql', v_parent.parent_schema, v_parent.parent_table,
        CASE WHEN v_moved > 0 THEN 'drain' ELSE 'create' END, partition_name, v_moved,
        round((extract(EPOCH FROM pg_catalog.clock_timestamp() - v_started) * 1000)::numeric, 3)
    );
    created := TRUE;
    rows_moved := v_moved;
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION ops.make_partition(regclass, date, uuid, boolean, boolean) IS
'The engine behind ops.create_partition (arguments checked there): under the parent''s lock, '
'creates the month''s child unless the month is covered; rows of the month waiting in DEFAULT '
'move in before it is attached. With p_exclusive (the transaction holds ACCESS EXCLUSIVE on the '
'parent) and no waiting rows, one CREATE TABLE ... PARTITION OF. p_checked: the caller holds the '
'parent''s lock and planned under it, so the month is known to be free.';

CREATE OR REPLACE FUNCTION ops.drop_or_detach(p_parent regclass, p_partition regclass, p_cutoff timestamptz, p_run uuid)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_reg ops.partitioned_tables;
    v_upper timestamptz;
    v_default boolean;
    v_name name;
BEGIN
    IF p_parent IS NULL OR p_partition IS NULL OR p_cutoff IS NULL THEN
        RAISE EXCEPTION 'p_parent, p_partition and p_cutoff must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT ops.lock_parent(p_parent) THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object';
    END IF;
    v_reg := ops.registered(p_parent);
    SELECT b.upper_bound, b.is_default INTO v_upper, v_default
    FROM ops.child_bounds(p_parent) AS b
    WHERE b.partition = p_partition;
    IF NOT FOUND OR v_default OR v_upper > p_cutoff THEN
        RETURN 'skip';  -- gone meanwhile, or not (or no longer) past retention
    END IF;
    SELECT c.relname INTO v_name FROM pg_catalog.pg_class AS c WHERE c.oid = p_partition;
    DELETE FROM ops.bound_cache AS bc WHERE bc.partition = p_partition::oid;
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

DROP FUNCTION ops.release_references(regclass, regclass, boolean);
DROP FUNCTION ops.prepare_drain(regclass, date);
DROP FUNCTION ops.restore_references(regclass);
DROP FUNCTION ops.suspend_references(regclass);
DROP TABLE ops.suspended_references;
DROP FUNCTION ops.tg__references_restored();
