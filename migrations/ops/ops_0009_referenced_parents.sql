-- ops 0009: partitioned tables that other tables reference by foreign key.
--
-- A foreign key may reference a partitioned parent (its key includes the partition key, as
-- insights.emotion_predictions -> insights.events does). Two engine steps broke those
-- references: moving rows out of the DEFAULT partition (a DELETE from DEFAULT, then an
-- INSERT into the new child before it is attached) fired the key's ON DELETE action, so
-- SET NULL lost the references and CASCADE deleted the referencing rows; and retention
-- could not drop a referenced partition at all (PostgreSQL refuses: other objects depend
-- on it, or the rows are still referenced), so it failed for the whole table, every run.
--
-- Now: a move suspends every foreign key that references the parent (ACCESS EXCLUSIVE on
-- the parent, taken before the DEFAULT partition's lock; definitions kept in
-- ops.suspended_references) and re-creates it after the attach, validated again; a
-- transaction that would commit with a key still suspended fails (a deferred constraint
-- trigger). Retention first applies each referencing key's ON DELETE action to the rows
-- that reference the partition's range (SET NULL: those columns nulled; SET DEFAULT;
-- CASCADE: deleted; NO ACTION / RESTRICT: nothing, and the detach refuses, 23503, as the
-- key asks), then detaches and drops (or archives) it. Tables nobody references take the
-- same path as before. The CLI's templates call the same functions.
--
-- depends: ops_0008_pgcrypto

SET LOCAL ROLE schema_tool_owner;

-- Tables ---------------------------------------------------------------------------------

CREATE TABLE ops.suspended_references (
    parent oid NOT NULL,
    referencing oid NOT NULL,
    constraint_name name NOT NULL,
    definition text NOT NULL,
    description text,
    CONSTRAINT suspended_references_pkey PRIMARY KEY (parent, referencing, constraint_name)
);
COMMENT ON TABLE ops.suspended_references IS
'Foreign keys referencing a partitioned parent, dropped for the length of one transaction while '
'the engine moves rows out of its DEFAULT partition (ops.suspend_references), re-created by '
'ops.restore_references. Empty outside such a transaction: a commit with a row left fails.';

-- Functions ------------------------------------------------------------------------------

CREATE FUNCTION ops.tg__references_restored()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF EXISTS (
        SELECT FROM ops.suspended_references AS s
        WHERE
            s.parent = new.parent AND s.referencing = new.referencing
            AND s.constraint_name = new.constraint_name
    ) THEN
        RAISE EXCEPTION 'foreign key % of % is suspended and was not restored', new.constraint_name,
            new.referencing::regclass
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION ops.tg__references_restored() IS
'At commit: refuses a transaction that suspended a foreign key and did not restore it.';

CREATE CONSTRAINT TRIGGER suspended_references_900_restored
AFTER INSERT ON ops.suspended_references
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION ops.tg__references_restored();

-- search_path pinned: pg_get_constraintdef() then qualifies every table it names
CREATE FUNCTION ops.suspend_references(p_parent regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_tables text;
    v_fk record;
    v_count integer := 0;
BEGIN
    IF p_parent IS NULL THEN
        RAISE EXCEPTION 'p_parent must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT FROM ops.suspended_references AS s WHERE s.parent = p_parent::oid) THEN
        RETURN 0;  -- already suspended in this transaction
    END IF;
    SELECT string_agg(DISTINCT c.conrelid::regclass::text, ', ')
    INTO v_tables
    FROM pg_constraint AS c
    WHERE c.contype = 'f' AND c.confrelid = p_parent AND c.conparentid = 0 AND c.conrelid <> p_parent;
    IF NOT EXISTS (
        SELECT FROM pg_constraint AS c WHERE c.contype = 'f' AND c.confrelid = p_parent AND c.conparentid = 0
    ) THEN
        RETURN 0;
    END IF;
    -- parents before children, in one statement
    EXECUTE format(
        'LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', concat_ws(', ', p_parent::text, v_tables)
    );
    FOR v_fk IN
        SELECT
            c.conrelid,
            c.conname,
            pg_get_constraintdef(c.oid) AS definition,
            obj_description(c.oid, 'pg_constraint') AS description
        FROM pg_constraint AS c
        WHERE c.contype = 'f' AND c.confrelid = p_parent AND c.conparentid = 0
        ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
        INSERT INTO ops.suspended_references (parent, referencing, constraint_name, definition, description)
        VALUES (p_parent, v_fk.conrelid, v_fk.conname, v_fk.definition, v_fk.description);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_fk.conrelid::regclass, v_fk.conname);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION ops.suspend_references(regclass) IS
'Drops, for the rest of the transaction, every foreign key that references p_parent (after '
'locking it and the referencing tables ACCESS EXCLUSIVE), keeping each definition in '
'ops.suspended_references; ops.restore_references must follow in the same transaction (the '
'commit fails otherwise). Returns how many; 0 when none, or when already suspended.';

CREATE FUNCTION ops.restore_references(p_parent regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_fk record;
    v_count integer := 0;
BEGIN
    IF p_parent IS NULL THEN
        RAISE EXCEPTION 'p_parent must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOR v_fk IN
        DELETE FROM ops.suspended_references AS s
        WHERE s.parent = p_parent::oid
        RETURNING s.referencing, s.constraint_name, s.definition, s.description
    LOOP
        EXECUTE format(
            'ALTER TABLE %s ADD CONSTRAINT %I %s', v_fk.referencing::regclass, v_fk.constraint_name, v_fk.definition
        );
        IF v_fk.description IS NOT NULL THEN
            EXECUTE format(
                'COMMENT ON CONSTRAINT %I ON %s IS %L', v_fk.constraint_name, v_fk.referencing::regclass,
                v_fk.description
            );
        END IF;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION ops.restore_references(regclass) IS
'Re-creates (and so validates again) the foreign keys ops.suspend_references dropped for '
'p_parent in this transaction. Returns how many; 0 when none were suspended.';

CREATE FUNCTION ops.prepare_drain(p_parent regclass, p_month date)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_default regclass;
    v_column name;
    v_type regtype;
    v_waiting boolean;
BEGIN
    IF p_parent IS NULL OR p_month IS NULL THEN
        RAISE EXCEPTION 'p_parent and p_month must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_constraint AS c
        WHERE c.contype = 'f' AND c.confrelid = p_parent AND c.conparentid = 0
    ) THEN
        RETURN FALSE;
    END IF;
    v_default := ops.default_partition(p_parent);
    v_column := (ops.registered(p_parent)).control_column;
    v_type := ops.control_type(p_parent);
    IF v_default IS NULL OR v_column IS NULL THEN
        RETURN FALSE;
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT EXISTS (SELECT FROM ONLY %s WHERE %I >= %L AND %I < %L)',
        v_default, v_column, ops.bound_literal(v_type, p_month::timestamp AT TIME ZONE 'UTC'),
        v_column, ops.bound_literal(v_type, (p_month + interval '1 month')::timestamp AT TIME ZONE 'UTC')
    ) INTO v_waiting;
    IF NOT v_waiting THEN
        RETURN FALSE;
    END IF;
    PERFORM ops.suspend_references(p_parent);
    RETURN TRUE;
END
$fn$;
COMMENT ON FUNCTION ops.prepare_drain(regclass, date) IS
'Before the month of p_month is created: when other tables reference p_parent and its DEFAULT '
'partition holds rows of that month, suspends those foreign keys (ops.suspend_references: ACCESS '
'EXCLUSIVE on the parent before the DEFAULT partition is locked, so no insert deadlocks with the '
'move) and returns true; otherwise changes nothing and returns false.';

CREATE FUNCTION ops.release_references(p_parent regclass, p_partition regclass, p_detach boolean DEFAULT FALSE)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_type regtype := ops.control_type(p_parent);
    v_lower timestamptz;
    v_upper timestamptz;
    v_fk record;
    v_where text;
    v_referenced boolean;
BEGIN
    IF p_parent IS NULL OR p_partition IS NULL OR p_detach IS NULL THEN
        RAISE EXCEPTION 'p_parent, p_partition and p_detach must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT b.lower_bound, b.upper_bound INTO v_lower, v_upper
    FROM ops.child_bounds(p_parent) AS b
    WHERE b.partition = p_partition AND NOT b.is_default;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a ranged partition of %', p_partition, p_parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_referenced := EXISTS (
        SELECT FROM pg_catalog.pg_constraint AS c
        WHERE c.contype = 'f' AND c.confrelid = p_parent AND c.conparentid = 0
    );
    IF NOT v_referenced AND NOT p_detach THEN
        RETURN FALSE;
    END IF;
    IF v_referenced THEN
        EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_parent);
    END IF;
    FOR v_fk IN
        SELECT
            c.conrelid::regclass AS referencing,
            c.confdeltype,
            (
                SELECT pg_catalog.string_agg(pg_catalog.format('%I IS NOT NULL', a.attname), ' AND ')
                FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
            ) AS not_null,
            (
                SELECT a.attname
                FROM unnest(c.conkey, c.confkey) AS k (src, dst)
                INNER JOIN pg_catalog.pg_partitioned_table AS pt ON pt.partrelid = c.confrelid
                INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.src
                WHERE k.dst = pt.partattrs[0]
            ) AS key_column,
            (
                SELECT pg_catalog.string_agg(
                    pg_catalog.format('%I = %s', a.attname, CASE c.confdeltype WHEN 'd' THEN 'DEFAULT' ELSE 'NULL' END),
                    ', ' ORDER BY a.attnum
                )
                FROM pg_catalog.pg_attribute AS a
                WHERE
                    a.attrelid = c.conrelid
                    AND a.attnum = ANY(coalesce(nullif(c.confdelsetcols, '{}'), c.conkey))
            ) AS assignments
        FROM pg_catalog.pg_constraint AS c
        WHERE c.contype = 'f' AND c.confrelid = p_parent AND c.conparentid = 0 AND c.confdeltype IN ('c', 'n', 'd')
        ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
        CONTINUE WHEN v_fk.key_column IS NULL;
        v_where := v_fk.not_null;
        IF v_lower > '-infinity' THEN
            v_where := v_where || pg_catalog.format(
                ' AND %I >= %L::%s', v_fk.key_column, ops.bound_literal(v_type, v_lower), v_type
            );
        END IF;
        IF v_upper < 'infinity' THEN
            v_where := v_where || pg_catalog.format(
                ' AND %I < %L::%s', v_fk.key_column, ops.bound_literal(v_type, v_upper), v_type
            );
        END IF;
        IF v_fk.confdeltype = 'c' THEN
            EXECUTE pg_catalog.format('DELETE FROM %s WHERE %s', v_fk.referencing, v_where);
        ELSE
            EXECUTE pg_catalog.format('UPDATE %s SET %s WHERE %s', v_fk.referencing, v_fk.assignments, v_where);
        END IF;
    END LOOP;
    EXECUTE pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', p_parent, p_partition);
    RETURN TRUE;
END
$fn$;
COMMENT ON FUNCTION ops.release_references(regclass, regclass, boolean) IS
'Before retention removes a partition: when other tables reference p_parent, applies each '
'referencing foreign key''s ON DELETE action (SET NULL, SET DEFAULT, CASCADE; with its column '
'list) to the rows that reference the partition''s range, then detaches the partition (NO ACTION '
'/ RESTRICT keys left referencing it make the detach fail, 23503). With p_detach it detaches an '
'unreferenced partition too. Returns true when it detached.';

-- The engine steps that use them ------------------------------------------------------------

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
    v_suspended integer := 0;
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

    -- other tables' foreign keys that reference the parent must not see the move below as a
    -- delete (their ON DELETE would null or delete the referencing rows): they are suspended
    -- (taking ACCESS EXCLUSIVE on the parent first, before the DEFAULT partition's lock) and
    -- restored, checked again, once the rows are back under the parent
    IF v_parent.default_partition IS NOT NULL AND ops.prepare_drain(p_parent, p_month) THEN
        v_suspended := 1;
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
            v_suspended := v_suspended + ops.suspend_references(p_parent);
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
    IF v_suspended > 0 THEN
        PERFORM ops.restore_references(p_parent);
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
'parent''s lock and planned under it, so the month is known to be free. Foreign keys of other '
'tables that reference the parent are suspended around the move (ops.suspend_references), so '
'the move fires none of their ON DELETE actions.';

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
    -- other tables' foreign keys act on the rows that reference this partition (detached
    -- then; always when it is to be archived)
    PERFORM ops.release_references(p_parent, p_partition, v_reg.retention_mode = 'detach');
    IF v_reg.retention_mode = 'detach' THEN
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
'lock that it is still attached, not the DEFAULT partition, and wholly before the cutoff. Rows of '
'other tables that reference it get their foreign key''s ON DELETE action first '
'(ops.release_references).';
