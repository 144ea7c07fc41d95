-- ops 0010 rollback: the three engine steps as ops_0009 made them; the helper goes.

SET LOCAL ROLE schema_tool_owner;

CREATE OR REPLACE FUNCTION ops.suspend_references(p_parent regclass)
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

CREATE OR REPLACE FUNCTION ops.prepare_drain(p_parent regclass, p_month date)
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

CREATE OR REPLACE FUNCTION ops.release_references(p_parent regclass, p_partition regclass, p_detach boolean DEFAULT FALSE)
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

DROP FUNCTION ops.referencing_keys(regclass);
