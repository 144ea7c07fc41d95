-- ops 0007: maintenance that no other role can silence or break, and that costs little
-- when there is nothing to do.
-- depends: ops_0006_hmac
--
-- - Run locks a non-owner cannot take: a row per purpose (maintain, migrate) in the
--   owner-only table ops.run_locks names the session that runs; a run whose session has
--   ended is replaced. The advisory keys of ops_0002 are still taken beside it (runs of
--   older versions respect them) but a holder that is not a maintenance role (a member of
--   schema_tool_owner, or a superuser) no longer stops anything. The per-parent advisory
--   key is replaced by a row lock on the parent's registry row (ops.lock_parent).
-- - Partition keys have a documented range, [2000-01-01 00:00:00+00, 2100-01-01 00:00:00+00)
--   (ops.key_range()): the engine creates no partition outside it (22023 when asked
--   explicitly); rows in a DEFAULT partition whose month is outside it, NULL or infinite
--   stay there and are reported; one run creates at most ops.drain_cap() (12) months per
--   parent from DEFAULT rows (the nearest to the reference month first; the rest wait for
--   the next run, reported). BC months get their era in their name (never a collision).
-- - Every engine function checks its arguments: 22004 for a NULL that is not allowed,
--   22023 for a value out of range (months 0..120, reference finite and in the key range,
--   retention positive and at most 100 years, mode drop or detach), 42704 for a table that
--   is not registered.
-- - Speed: partition bounds are cached by the content of the catalog's bound
--   (ops.bound_cache), so a plan reads no deparsed expression for known children;
--   ops.maintenance_plan() plans every parent in one call (a no-op run is one query);
--   a month without waiting rows skips the move; a parent whose transaction already holds
--   ACCESS EXCLUSIVE (set up in the migration that creates it) gets its children with
--   CREATE TABLE ... PARTITION OF, one statement each.

SET LOCAL ROLE schema_tool_owner;

-- Tables -----------------------------------------------------------------------------

CREATE TABLE ops.run_locks (
    purpose text NOT NULL,
    holder_pid integer,
    holder_started timestamptz,
    holder_user name,
    holder_application text,
    acquired_at timestamptz,
    CONSTRAINT run_locks_pkey PRIMARY KEY (purpose),
    CONSTRAINT chk_run_locks_purpose CHECK (purpose IN ('maintain', 'migrate')),
    CONSTRAINT chk_run_locks_holder CHECK ((holder_pid IS NULL) = (acquired_at IS NULL))
);
COMMENT ON TABLE ops.run_locks IS
'One row per run lock (maintain, migrate): the session running it, or NULL. Owner-only, so no '
'other role can take, hold or block it; a holder whose session has ended (pid gone, or a new '
'backend on that pid) is replaced by the next run. Written by ops.take_run_lock() and '
'ops.release_run_lock().';

INSERT INTO ops.run_locks (purpose) VALUES ('maintain'), ('migrate');

CREATE TABLE ops.bound_cache (
    partition oid NOT NULL,
    parent oid NOT NULL,
    bound_md5 text NOT NULL,
    is_default boolean NOT NULL,
    lower_bound timestamptz,
    upper_bound timestamptz,
    CONSTRAINT bound_cache_pkey PRIMARY KEY (partition)
);
COMMENT ON TABLE ops.bound_cache IS
'Bounds of partitions of registered parents as UTC instants, keyed by the partition and the md5 '
'of its catalog bound (pg_class.relpartbound): a row is used only while that bound is unchanged, '
'so it is never stale, only missing (then the bound is read from the catalog). Saves deparsing '
'every bound on every plan. Written by the engine when it creates, drops or detaches a partition '
'and by ops.remember_bounds().';

CREATE INDEX idx_bound_cache_parent ON ops.bound_cache (parent);

GRANT SELECT ON ops.bound_cache TO schema_tool_readonly;

-- Constants and argument checks ------------------------------------------------------

CREATE FUNCTION ops.key_range()
RETURNS tstzrange
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN tstzrange('2000-01-01 00:00:00+00', '2100-01-01 00:00:00+00', '[)');
COMMENT ON FUNCTION ops.key_range() IS
'The documented range of every partition key, [2000-01-01 00:00:00+00, 2100-01-01 00:00:00+00): '
'each system bounds its keys to it with a CHECK named chk_<table>_<column>_range, and the engine '
'creates no partition outside it.';

CREATE FUNCTION ops.drain_cap()
RETURNS integer
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN 12;
COMMENT ON FUNCTION ops.drain_cap() IS
'How many months one maintenance run creates per parent for rows waiting in its DEFAULT partition '
'(beyond the months it keeps ahead anyway): the nearest to the reference month first, the rest '
'wait for the next run and are reported.';

CREATE FUNCTION ops.check_reference(p_reference timestamptz, p_name text DEFAULT 'p_reference')
RETURNS timestamptz
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
BEGIN
    IF p_reference IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_name USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT p_reference <@ ops.key_range() THEN
        RAISE EXCEPTION '% % is outside the partition key range [2000-01-01, 2100-01-01)', p_name, p_reference
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_reference;
END
$fn$;
COMMENT ON FUNCTION ops.check_reference(timestamptz, text) IS
'Raises 22004 for NULL and 22023 for an instant outside ops.key_range() (infinity included); '
'returns the instant.';

CREATE FUNCTION ops.check_months(p_value integer, p_name text, p_nullable boolean DEFAULT FALSE)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
BEGIN
    IF p_value IS NULL AND NOT p_nullable THEN
        RAISE EXCEPTION '% must not be NULL', p_name USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_value NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION '% must be between 0 and 120 months, not %', p_name, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_value;
END
$fn$;
COMMENT ON FUNCTION ops.check_months(integer, text, boolean) IS
'Raises 22023 for a month count outside 0..120 and 22004 for NULL unless p_nullable; returns it.';

CREATE FUNCTION ops.check_retention(p_value interval, p_name text DEFAULT 'p_retention')
RETURNS interval
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
BEGIN
    IF p_value <= interval '0' OR p_value > interval '100 years' THEN
        RAISE EXCEPTION '% must be positive and at most 100 years, not %', p_name, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_value;
END
$fn$;
COMMENT ON FUNCTION ops.check_retention(interval, text) IS
'Raises 22023 for a retention that is not positive or longer than 100 years (NULL passes: keep '
'everything); returns it.';

CREATE FUNCTION ops.check_mode(p_value text, p_name text DEFAULT 'p_retention_mode')
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
BEGIN
    IF p_value NOT IN ('drop', 'detach') THEN
        RAISE EXCEPTION '% must be drop or detach, not %', p_name, p_value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_value;
END
$fn$;
COMMENT ON FUNCTION ops.check_mode(text, text) IS
'Raises 22023 for a retention mode other than drop or detach (NULL passes); returns it.';

CREATE FUNCTION ops.check_parent(p_parent regclass, p_name text DEFAULT 'p_parent')
RETURNS ops.partitioned_tables
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_reg ops.partitioned_tables;
BEGIN
    IF p_parent IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_name USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_reg := ops.registered(p_parent);
    IF v_reg IS NULL THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object', HINT = 'call ops.register_partitioned_table() first';
    END IF;
    RETURN v_reg;
END
$fn$;
COMMENT ON FUNCTION ops.check_parent(regclass, text) IS
'The registry row of a parent; raises 22004 for NULL and 42704 for a table that is not registered.';

CREATE FUNCTION ops.month_in_range(p_month date)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN p_month >= date '2000-01-01' AND p_month < date '2100-01-01';
COMMENT ON FUNCTION ops.month_in_range(date) IS
'True when the month starting at p_month (UTC) lies inside ops.key_range().';

-- Locks: run locks, and one per parent -------------------------------------------------

CREATE FUNCTION ops.advisory_holder(p_key integer)
RETURNS TABLE (pid integer, user_name name, application text, maintainer boolean)
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    RETURN QUERY
    SELECT
        l.pid,
        r.rolname,
        a.application_name,
        coalesce(r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'schema_tool_owner', 'MEMBER'), FALSE)
    FROM pg_catalog.pg_locks AS l
    LEFT JOIN LATERAL pg_catalog.pg_stat_get_activity(l.pid) AS a ON TRUE
    LEFT JOIN pg_catalog.pg_roles AS r ON a.usesysid = r.oid
    WHERE
        l.locktype = 'advisory'
        AND l.granted
        AND l.pid <> pg_catalog.pg_backend_pid()
        AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = current_database())
        AND l.classid = 21332
        AND l.objid = p_key
        AND l.objsubid = 2;
END
$fn$;
COMMENT ON FUNCTION ops.advisory_holder(integer) IS
'The other session holding the two-key advisory lock (21332, p_key) of ops_0002''s run locks, with '
'whether it is a maintenance role (a superuser or a member of schema_tool_owner).';

CREATE FUNCTION ops.take_run_lock(p_purpose text)
RETURNS TABLE (taken boolean, holder text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_key integer;
    v_mine timestamptz;
    v_advisory boolean;
    v_other record;
BEGIN
    v_key := CASE p_purpose WHEN 'migrate' THEN 1 WHEN 'maintain' THEN 2 END;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'run lock purpose must be maintain or migrate, not %', p_purpose
            USING ERRCODE = CASE WHEN p_purpose IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END;
    END IF;
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    SELECT a.backend_start INTO v_mine FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) AS a;
    -- the advisory key too, so that runs of older versions (which know only it) wait for us
    v_advisory := pg_catalog.pg_try_advisory_lock(21332, v_key);
    UPDATE ops.run_locks AS l
    SET holder_pid = pg_catalog.pg_backend_pid(),
        holder_started = v_mine,
        holder_user = session_user,
        holder_application = pg_catalog.current_setting('application_name'),
        acquired_at = pg_catalog.clock_timestamp()
    WHERE
        l.purpose = p_purpose
        AND (
            l.holder_pid IS NULL
            OR l.holder_pid = pg_catalog.pg_backend_pid()
            OR NOT EXISTS (
                -- the holder's session is gone (a backend it cannot see has a NULL start: alive)
                SELECT
                FROM pg_catalog.pg_stat_get_activity(l.holder_pid) AS a
                WHERE a.backend_start IS NULL OR a.backend_start = l.holder_started
            )
        )
    RETURNING TRUE INTO taken;
    taken := coalesce(taken, FALSE);
    IF taken AND NOT v_advisory THEN
        -- another maintenance role holds the old key: a run that began before this table
        -- existed. Someone else (no maintenance role) holding it stops nothing.
        SELECT * INTO v_other FROM ops.advisory_holder(v_key) AS h WHERE h.maintainer LIMIT 1;
        IF FOUND THEN
            UPDATE ops.run_locks AS l
            SET holder_pid = NULL, holder_started = NULL, holder_user = NULL, holder_application = NULL,
                acquired_at = NULL
            WHERE l.purpose = p_purpose;
            taken := FALSE;
            holder := pg_catalog.format('pid %s, user %s, application ''%s'' (advisory lock)',
                                        v_other.pid, v_other.user_name, coalesce(v_other.application, '?'));
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    IF NOT taken THEN
        IF v_advisory THEN
            PERFORM pg_catalog.pg_advisory_unlock(21332, v_key);
        END IF;
        SELECT pg_catalog.format(
            'pid %s, user %s, application ''%s'', since %s', l.holder_pid, l.holder_user,
            coalesce(nullif(l.holder_application, ''), '?'),
            pg_catalog.to_char(l.acquired_at, 'YYYY-MM-DD HH24:MI:SS TZ')
        ) INTO holder
        FROM ops.run_locks AS l
        WHERE l.purpose = p_purpose;
    END IF;
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION ops.take_run_lock(text) IS
'Takes the run lock of a purpose (maintain or migrate) for this session unless a live session '
'holds it; taken is false then, with the holder described. Commit right after: the row stays '
'locked until then. Only the owner (and its members) may write ops.run_locks, so no other role '
'can hold or block it. Re-entrant; a dead holder is replaced.';

CREATE FUNCTION ops.release_run_lock(p_purpose text)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_released boolean;
BEGIN
    IF p_purpose IS NULL THEN
        RAISE EXCEPTION 'p_purpose must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE ops.run_locks AS l
    SET holder_pid = NULL, holder_started = NULL, holder_user = NULL, holder_application = NULL, acquired_at = NULL
    WHERE l.purpose = p_purpose AND l.holder_pid = pg_catalog.pg_backend_pid()
    RETURNING TRUE INTO v_released;
    PERFORM pg_catalog.pg_advisory_unlock(21332, CASE p_purpose WHEN 'migrate' THEN 1 ELSE 2 END)
    FROM pg_catalog.pg_locks AS l
    WHERE
        l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
        AND l.classid = 21332 AND l.objid = CASE p_purpose WHEN 'migrate' THEN 1 ELSE 2 END AND l.objsubid = 2;
    RETURN coalesce(v_released, FALSE);
END
$fn$;
COMMENT ON FUNCTION ops.release_run_lock(text) IS
'Releases this session''s run lock of a purpose (and its advisory key); false if it held none.';

CREATE FUNCTION ops.lock_parent(p_parent regclass)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM 1
    FROM ops.partitioned_tables AS r
    INNER JOIN pg_catalog.pg_namespace AS n ON r.parent_schema = n.nspname
    INNER JOIN pg_catalog.pg_class AS c ON n.oid = c.relnamespace AND r.parent_table = c.relname
    WHERE c.oid = p_parent
    FOR NO KEY UPDATE OF r;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION ops.lock_parent(regclass) IS
'Serialises every partition change of one registered parent until the end of the transaction: a '
'row lock on its registry row, which only the owner can take (an advisory key can be taken by '
'anyone). False when the parent is not registered.';

CREATE FUNCTION ops.holds_exclusive(p_parent regclass)
RETURNS boolean
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    RETURN EXISTS (
        SELECT
        FROM pg_catalog.pg_locks AS l
        WHERE
            l.locktype = 'relation'
            AND l.relation = p_parent::oid
            AND l.pid = pg_catalog.pg_backend_pid()
            AND l.mode = 'AccessExclusiveLock'
            AND l.granted
            AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = current_database())
    );
END
$fn$;
COMMENT ON FUNCTION ops.holds_exclusive(regclass) IS
'True when this transaction already holds ACCESS EXCLUSIVE on the table (it created or locked it).';

-- Names, bounds and the DEFAULT partition ----------------------------------------------

CREATE OR REPLACE FUNCTION ops.partition_name(p_parent_table name, p_month date)
RETURNS name
LANGUAGE sql
IMMUTABLE
STRICT
RETURN ops.fit_name(
    p_parent_table,
    pg_catalog.to_char(p_month, '"_"YYYY"_"MM') || CASE WHEN p_month < date '0001-01-01' THEN '_bc' ELSE '' END
);
COMMENT ON FUNCTION ops.partition_name(name, date) IS
'Name of the monthly child of a parent: <parent>_YYYY_MM (<parent>_YYYY_MM_bc before the common '
'era, so that no two months share a name), hashed to fit 63 bytes.';

CREATE OR REPLACE FUNCTION ops.default_partition(p_parent regclass)
RETURNS regclass
LANGUAGE sql
STABLE
STRICT
BEGIN ATOMIC
    SELECT nullif(pt.partdefid, 0)::regclass
    FROM pg_catalog.pg_partitioned_table AS pt
    WHERE pt.partrelid = p_parent;
END;
COMMENT ON FUNCTION ops.default_partition(regclass) IS 'The DEFAULT partition of a parent, or NULL.';

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
        WITH kids AS MATERIALIZED (
            SELECT
                c.oid,
                n.nspname,
                c.relname,
                bc.is_default,
                bc.lower_bound,
                bc.upper_bound,
                bc.partition IS NOT NULL AS known,
                c.relpartbound
            FROM pg_catalog.pg_inherits AS i
            INNER JOIN pg_catalog.pg_class AS c ON i.inhrelid = c.oid
            INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
            LEFT JOIN ops.bound_cache AS bc
                ON c.oid = bc.partition AND bc.bound_md5 = pg_catalog.md5(c.relpartbound::text)
            WHERE i.inhparent = p_parent
        ),

        parsed AS (
            -- bounds not cached yet: FOR VALUES FROM ('<lower>') TO ('<upper>') (or MINVALUE /
            -- MAXVALUE), or DEFAULT, read from the catalog
            SELECT
                k.oid,
                k.nspname,
                k.relname,
                pg_catalog.pg_get_expr(k.relpartbound, k.oid) AS bound
            FROM kids AS k
            WHERE NOT k.known
        ),

        split AS MATERIALIZED (
            SELECT
                p.oid,
                p.nspname,
                p.relname,
                p.bound = 'DEFAULT' AS is_default,
                pg_catalog.btrim(pg_catalog.split_part(substr(p.bound, 18), ') TO (', 1), '''') AS lower_literal,
                pg_catalog.btrim(pg_catalog.rtrim(pg_catalog.split_part(p.bound, ') TO (', 2), ')'), '''')
                AS upper_literal
            FROM parsed AS p
            WHERE p.bound = 'DEFAULT' OR (p.bound LIKE 'FOR VALUES FROM (%) TO (%)' AND p.bound NOT LIKE '%,%')
        )

        SELECT
            k.oid::regclass,
            k.nspname,
            k.relname,
            k.is_default,
            k.lower_bound,
            k.upper_bound
        FROM kids AS k
        WHERE k.known
        UNION ALL
        SELECT
            s.oid::regclass,
            s.nspname,
            s.relname,
            s.is_default,
            CASE WHEN NOT s.is_default THEN ops.bound_value(v_type, s.lower_literal) END,
            CASE WHEN NOT s.is_default THEN ops.bound_value(v_type, s.upper_literal) END
        FROM split AS s;
END
$fn$;
COMMENT ON FUNCTION ops.child_bounds(regclass) IS
'Every partition of a parent with its range read from the catalog (never from its name), as UTC '
'instants; is_default for the DEFAULT partition. Bounds come from ops.bound_cache while the '
'catalog bound is unchanged, else are deparsed.';

CREATE FUNCTION ops.remember_bounds(p_parent regclass)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_count integer;
BEGIN
    IF p_parent IS NULL THEN
        RAISE EXCEPTION 'p_parent must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM ops.bound_cache AS bc
    WHERE
        bc.parent = p_parent::oid
        AND NOT EXISTS (
            SELECT
            FROM pg_catalog.pg_inherits AS i
            INNER JOIN pg_catalog.pg_class AS c ON i.inhrelid = c.oid
            WHERE
                i.inhparent = p_parent
                AND c.oid = bc.partition
                AND pg_catalog.md5(c.relpartbound::text) = bc.bound_md5
        );
    INSERT INTO ops.bound_cache AS bc (partition, parent, bound_md5, is_default, lower_bound, upper_bound)
    SELECT
        b.partition::oid,
        p_parent::oid,
        pg_catalog.md5(c.relpartbound::text),
        b.is_default,
        b.lower_bound,
        b.upper_bound
    FROM ops.child_bounds(p_parent) AS b
    INNER JOIN pg_catalog.pg_class AS c ON b.partition = c.oid
    WHERE NOT EXISTS (SELECT FROM ops.bound_cache AS k WHERE k.partition = b.partition::oid)
    ON CONFLICT (partition) DO UPDATE
    SET parent = excluded.parent,
        bound_md5 = excluded.bound_md5,
        is_default = excluded.is_default,
        lower_bound = excluded.lower_bound,
        upper_bound = excluded.upper_bound;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION ops.remember_bounds(regclass) IS
'Caches the bounds of a parent''s partitions that ops.bound_cache lacks and forgets those of '
'partitions no longer attached (or attached with another bound). Returns how many it cached.';

CREATE FUNCTION ops.default_contents(p_parent regclass)
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
    -- one scan; a month is computed only inside the key range, so no timestamp a tenant
    -- chose (294276 AD, BC, infinity, NULL) can make it fail
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT CASE WHEN %1$I >= %2$L AND %1$I < %3$L THEN %4$s END, pg_catalog.count(*) FROM ONLY %5$s'
        ' GROUP BY 1 ORDER BY 1',
        v_reg.control_column,
        ops.bound_literal(v_type, pg_catalog.lower(ops.key_range())),
        ops.bound_literal(v_type, pg_catalog.upper(ops.key_range())),
        v_month, v_default
    );
END
$fn$;
COMMENT ON FUNCTION ops.default_contents(regclass) IS
'Rows in the DEFAULT partition of a registered parent by month (UTC), with counts; month is NULL '
'for rows whose time is NULL, infinite or outside ops.key_range() (they stay in DEFAULT).';

CREATE OR REPLACE FUNCTION ops.default_months(p_parent regclass)
RETURNS TABLE (month date, row_count bigint)
LANGUAGE sql
STABLE
STRICT
BEGIN ATOMIC
    SELECT
        d.month,
        d.row_count
    FROM ops.default_contents(p_parent) AS d
    WHERE d.month IS NOT NULL
    ORDER BY d.month;
END;
COMMENT ON FUNCTION ops.default_months(regclass) IS
'Months (UTC) inside ops.key_range() that have rows waiting in the DEFAULT partition of a '
'registered parent, with counts.';

-- Plans: what maintenance would do, shared by the CLI and the in-database path -------

CREATE FUNCTION ops.parent_plan(
    p_parent regclass,
    p_reference timestamptz,
    p_premake integer DEFAULT NULL,
    p_months_back integer DEFAULT 0,
    p_steps text[] DEFAULT '{drain,ensure,retention}',
    p_retention interval DEFAULT NULL
)
RETURNS TABLE (
    step text,
    month date,
    partition_schema name,
    partition_name name,
    partition regclass,
    lower_literal text,
    upper_literal text,
    rows_waiting bigint,
    cutoff timestamptz,
    archive_schema name,
    detail text
)
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.registered(p_parent);
    v_type regtype := ops.control_type(p_parent);
    v_default regclass := ops.default_partition(p_parent);
    v_this_month date := pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC')::date;
    v_premake integer := coalesce(p_premake, v_reg.premake);
    v_drain boolean := 'drain' = ANY(p_steps);
    v_creates boolean := 'drain' = ANY(p_steps) OR 'ensure' = ANY(p_steps);
    v_retention interval := coalesce(p_retention, v_reg.retention);
    v_cutoff timestamptz;
    v_waiting boolean := FALSE;
BEGIN
    IF v_reg IS NULL THEN
        RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent
            USING ERRCODE = 'undefined_object';
    END IF;
    IF 'retention' = ANY(p_steps) AND v_retention IS NOT NULL THEN
        v_cutoff := least(
            -- a retention beyond 100 years reaches nothing inside the key range
            CASE WHEN v_retention <= interval '100 years' THEN p_reference - v_retention ELSE '-infinity' END,
            pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        );
    END IF;
    IF v_creates AND v_reg.default_partition AND v_default IS NULL THEN
        step := 'default';
        partition_schema := v_reg.parent_schema;
        partition_name := ops.default_partition_name(v_reg.parent_table);
        rows_waiting := 0;
        RETURN NEXT;
    END IF;
    IF v_creates AND v_default IS NOT NULL THEN
        -- the common case, an empty DEFAULT partition, costs one probe and no scan
        v_waiting := ops.has_rows(v_default);
    END IF;
    RETURN QUERY
    WITH existing AS MATERIALIZED (
        SELECT
            b.partition,
            b.partition_schema,
            b.partition_name,
            b.lower_bound,
            b.upper_bound
        FROM ops.child_bounds(p_parent) AS b
        WHERE NOT b.is_default
    ),

    waiting AS MATERIALIZED (
        SELECT
            d.month,
            d.row_count
        FROM ops.default_contents(p_parent) AS d
        WHERE v_waiting
    ),

    wanted AS (
        SELECT
            m::date AS month,
            CASE WHEN m < v_this_month THEN 'setup' ELSE 'ahead' END AS reason
        FROM pg_catalog.generate_series(
            v_this_month - pg_catalog.make_interval(months => p_months_back),
            v_this_month + pg_catalog.make_interval(months => v_premake),
            interval '1 month'
        ) AS m
        WHERE v_creates AND ops.month_in_range(m::date)
    ),

    candidates AS (
        SELECT
            coalesce(w.month, d.month) AS month,
            coalesce(d.row_count, 0) AS row_count,
            coalesce(w.reason, 'default rows') AS reason
        FROM wanted AS w
        FULL JOIN (SELECT x.month, x.row_count FROM waiting AS x WHERE x.month IS NOT NULL) AS d
            ON w.month = d.month
    ),

    free AS (
        SELECT
            c.month,
            c.row_count,
            c.reason,
            -- months only rows ask for: the nearest to the reference month first, capped
            CASE WHEN c.reason = 'default rows' THEN
                pg_catalog.row_number() OVER (
                    PARTITION BY c.reason = 'default rows'
                    ORDER BY abs(c.month - v_this_month), c.month
                )
            END AS extra
        FROM candidates AS c
        WHERE
            (v_drain OR c.reason <> 'default rows')
            AND NOT EXISTS (
                SELECT
                FROM existing AS e
                WHERE
                    e.lower_bound < (c.month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
                    AND e.upper_bound > c.month::timestamp AT TIME ZONE 'UTC'
            )
    ),

    creations AS (
        SELECT
            CASE WHEN f.extra > ops.drain_cap() THEN 'skip' ELSE 'create' END AS step,
            f.month,
            v_reg.parent_schema AS partition_schema,
            ops.partition_name(v_reg.parent_table, f.month) AS partition_name,
            ops.bound_literal(v_type, f.month::timestamp AT TIME ZONE 'UTC') AS lower_literal,
            ops.bound_literal(v_type, (f.month + interval '1 month')::timestamp AT TIME ZONE 'UTC') AS upper_literal,
            f.month::timestamp AT TIME ZONE 'UTC' AS lower_bound,
            (f.month + interval '1 month')::timestamp AT TIME ZONE 'UTC' AS upper_bound,
            f.row_count,
            CASE
                WHEN f.extra > ops.drain_cap() THEN pg_catalog.format(
                    'over the cap of %s months one run creates per table for rows waiting in DEFAULT: a later '
                    'run creates it', ops.drain_cap()
                )
                ELSE f.reason
            END AS detail
        FROM free AS f
    ),

    doomed AS (
        -- past retention, counting the partitions this plan creates (drained rows obey
        -- retention too)
        SELECT
            x.partition,
            x.partition_schema,
            x.partition_name,
            x.lower_bound,
            x.upper_bound
        FROM (
            SELECT
                e.partition,
                e.partition_schema,
                e.partition_name,
                e.lower_bound,
                e.upper_bound
            FROM existing AS e
            UNION ALL
            SELECT
                NULL::regclass,
                k.partition_schema,
                k.partition_name,
                k.lower_bound,
                k.upper_bound
            FROM creations AS k
            WHERE k.step = 'create'
        ) AS x
        WHERE x.upper_bound <= v_cutoff AND x.upper_bound > '-infinity'::timestamptz
    )

    SELECT
        u.step,
        u.month,
        u.partition_schema,
        u.partition_name,
        u.partition,
        u.lower_literal,
        u.upper_literal,
        u.rows_waiting,
        u.cutoff,
        u.archive_schema,
        u.detail
    FROM (
        SELECT
            1 AS stage,
            k.lower_bound AS sort_key,
            k.step,
            k.month,
            k.partition_schema,
            k.partition_name,
            NULL::regclass AS partition,
            k.lower_literal,
            k.upper_literal,
            k.row_count AS rows_waiting,
            NULL::timestamptz AS cutoff,
            NULL::name AS archive_schema,
            k.detail
        FROM creations AS k
        UNION ALL
        SELECT
            2,
            NULL,
            'skip',
            NULL,
            v_reg.parent_schema,
            NULL,
            NULL,
            NULL,
            NULL,
            d.row_count,
            NULL,
            NULL,
            'their time is NULL, infinite or outside the partition key range [2000-01-01, 2100-01-01)'
        FROM waiting AS d
        WHERE d.month IS NULL AND v_drain
        UNION ALL
        SELECT
            3,
            r.lower_bound,
            v_reg.retention_mode,
            NULL,
            r.partition_schema,
            r.partition_name,
            r.partition,
            ops.bound_literal(v_type, r.lower_bound),
            ops.bound_literal(v_type, r.upper_bound),
            NULL,
            v_cutoff,
            v_reg.archive_schema,
            NULL
        FROM doomed AS r
    ) AS u
    ORDER BY u.stage, u.sort_key;
END
$fn$;
COMMENT ON FUNCTION ops.parent_plan(regclass, timestamptz, integer, integer, text[], interval) IS
'Everything maintenance would do to one registered parent, in order: step default (create the '
'DEFAULT partition), create (a month, with rows_waiting rows to move in; detail setup, ahead or '
'default rows), skip (rows that stay in DEFAULT, reported), then drop or detach (past retention, '
'including months this plan creates; partition NULL for those). p_steps: any of drain, ensure, '
'retention. Arguments are checked by its callers.';

CREATE FUNCTION ops.has_rows(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
STABLE
STRICT
AS $fn$
DECLARE
    v_found boolean;
BEGIN
    IF pg_catalog.pg_relation_size(p_table) = 0 THEN
        RETURN FALSE;  -- never written to: no need to plan a query on it
    END IF;
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM ONLY %s)', p_table) INTO v_found;
    RETURN v_found;
END
$fn$;
COMMENT ON FUNCTION ops.has_rows(regclass) IS
'True when the table (not its partitions) has a row: its size, then one probe; never a scan.';

CREATE FUNCTION ops.maintenance_plan(
    p_parent regclass DEFAULT NULL,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_premake integer DEFAULT NULL,
    p_steps text[] DEFAULT '{drain,ensure,retention}'
)
RETURNS TABLE (
    parent regclass,
    parent_schema name,
    parent_table name,
    step text,
    month date,
    partition_schema name,
    partition_name name,
    partition regclass,
    lower_literal text,
    upper_literal text,
    rows_waiting bigint,
    cutoff timestamptz,
    archive_schema name,
    detail text
)
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_table record;
    v_this_month timestamptz;
    v_creates boolean;
    v_drain boolean;
    v_retain boolean;
BEGIN
    PERFORM ops.check_reference(p_reference);
    PERFORM ops.check_months(p_premake, 'p_premake', TRUE);
    IF p_steps IS NULL OR pg_catalog.cardinality(p_steps) = 0
        OR NOT p_steps <@ ARRAY['drain', 'ensure', 'retention'] THEN
        RAISE EXCEPTION 'p_steps must list some of drain, ensure, retention, not %', p_steps
            USING ERRCODE = CASE WHEN p_steps IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END;
    END IF;
    IF p_parent IS NOT NULL THEN
        PERFORM ops.check_parent(p_parent);
    END IF;
    v_this_month := pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_drain := 'drain' = ANY(p_steps);
    v_creates := v_drain OR 'ensure' = ANY(p_steps);
    v_retain := 'retention' = ANY(p_steps);
    -- Which parents have anything to do: one pass over the registry and the cached bounds.
    -- It may only err towards "maybe" (then the parent's full plan decides): a parent is
    -- passed over only when its bounds are all cached, its DEFAULT partition exists (if
    -- wanted) and is empty, its wanted months are wholly covered and nothing is past
    -- retention.
    FOR v_table IN
        SELECT
            c.oid,
            r.parent_schema,
            r.parent_table
        FROM ops.partitioned_tables AS r
        CROSS JOIN LATERAL (
            -- a catalog cache lookup per parent, never a scan of pg_class
            SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.parent_schema, r.parent_table)) AS oid
        ) AS c
        LEFT JOIN pg_catalog.pg_partitioned_table AS pt ON c.oid = pt.partrelid
        LEFT JOIN LATERAL (
            SELECT
                pg_catalog.bool_and(bc.partition IS NOT NULL) AS all_known,
                pg_catalog.range_agg(pg_catalog.tstzrange(bc.lower_bound, bc.upper_bound))
                    FILTER (WHERE NOT bc.is_default) AS covered,
                pg_catalog.min(bc.upper_bound) FILTER (WHERE NOT bc.is_default AND bc.upper_bound > '-infinity')
                AS first_end
            FROM pg_catalog.pg_inherits AS i
            INNER JOIN pg_catalog.pg_class AS k ON i.inhrelid = k.oid
            LEFT JOIN ops.bound_cache AS bc
                ON k.oid = bc.partition AND bc.bound_md5 = pg_catalog.md5(k.relpartbound::text)
            WHERE i.inhparent = c.oid
        ) AS b ON TRUE
        CROSS JOIN LATERAL (
            SELECT
                greatest(v_this_month, pg_catalog.lower(ops.key_range())) AS first_month,
                least(
                    (
                        (pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC')
                        + pg_catalog.make_interval(months => coalesce(p_premake, r.premake) + 1))
                        AT TIME ZONE 'UTC'
                    ),
                    pg_catalog.upper(ops.key_range())
                ) AS wanted_end,
                CASE WHEN r.retention IS NOT NULL THEN
                    least(
                        CASE WHEN r.retention <= interval '100 years' THEN p_reference - r.retention END,
                        v_this_month
                    )
                END AS cutoff
        ) AS w
        WHERE
            (p_parent IS NULL OR c.oid = p_parent)
            AND (
                c.oid IS NULL
                OR NOT coalesce(b.all_known, TRUE)
                OR (v_creates AND r.default_partition AND coalesce(pt.partdefid, 0) = 0)
                OR (
                    v_creates AND w.first_month < w.wanted_end
                    AND NOT coalesce(b.covered @> pg_catalog.tstzrange(w.first_month, w.wanted_end), FALSE)
                )
                OR (v_retain AND w.cutoff IS NOT NULL AND b.first_end <= w.cutoff)
                OR (
                    v_drain AND coalesce(pt.partdefid, 0) <> 0
                    -- a DEFAULT partition never written to is empty without opening it for a query
                    AND CASE
                        WHEN pg_catalog.pg_relation_size(pt.partdefid::regclass) = 0 THEN FALSE
                        ELSE ops.has_rows(pt.partdefid::regclass)
                    END
                )
            )
        ORDER BY r.parent_schema, r.parent_table
    LOOP
        parent := v_table.oid;
        parent_schema := v_table.parent_schema;
        parent_table := v_table.parent_table;
        IF v_table.oid IS NULL THEN
            step := 'error';
            detail := pg_catalog.format('registered table %I.%I does not exist', v_table.parent_schema,
                                        v_table.parent_table);
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            -- one table's plan failing never hides the others'
            RETURN QUERY
            SELECT
                v_table.oid,
                v_table.parent_schema,
                v_table.parent_table,
                p.step,
                p.month,
                p.partition_schema,
                p.partition_name,
                p.partition,
                p.lower_literal,
                p.upper_literal,
                p.rows_waiting,
                p.cutoff,
                p.archive_schema,
                p.detail
            FROM ops.parent_plan(v_table.oid, p_reference, p_premake, 0, p_steps) AS p;
        EXCEPTION WHEN OTHERS THEN
            step := 'error';
            month := NULL;
            detail := sqlstate || ': ' || sqlerrm;
            RETURN NEXT;
        END;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION ops.maintenance_plan(regclass, timestamptz, integer, text[]) IS
'What one maintenance run would do to every registered parent (or the one given), in one call: '
'the rows of ops.parent_plan() for each parent that has anything to do (found in one pass over '
'the registry and the cached bounds), plus step error for a parent whose plan failed or whose '
'table is gone. No rows: nothing to do. p_premake overrides each table''s premake (0..120); '
'p_steps: any of drain, ensure, retention.';

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
BEGIN
    PERFORM ops.check_parent(p_parent);
    PERFORM ops.check_reference(p_reference);
    PERFORM ops.check_months(p_premake, 'p_premake', TRUE);
    PERFORM ops.check_months(p_months_back, 'p_months_back');
    IF p_default_rows IS NULL THEN
        RAISE EXCEPTION 'p_default_rows must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN QUERY
    SELECT
        p.month,
        p.partition_schema,
        p.partition_name,
        p.lower_literal,
        p.upper_literal,
        p.rows_waiting,
        p.detail
    FROM ops.parent_plan(
        p_parent, p_reference, p_premake, p_months_back,
        CASE WHEN p_default_rows THEN ARRAY['drain', 'ensure'] ELSE ARRAY['ensure'] END
    ) AS p
    WHERE p.step = 'create'
    ORDER BY p.month;
END
$fn$;
COMMENT ON FUNCTION ops.partition_plan(regclass, timestamptz, integer, integer, boolean) IS
'Months a parent still needs, each with its child name and bound literals: the reference month '
'and premake months ahead, p_months_back months back (inside ops.key_range()), and (unless '
'p_default_rows is false) months with rows waiting in the DEFAULT partition, at most '
'ops.drain_cap() of them. default_rows > 0: created by moving them. reason: setup, ahead or default rows.';

CREATE OR REPLACE FUNCTION ops.retention_cutoff(
    p_parent regclass,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_retention interval DEFAULT NULL
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.check_parent(p_parent);
    v_retention interval := coalesce(ops.check_retention(p_retention), v_reg.retention);
BEGIN
    PERFORM ops.check_reference(p_reference);
    IF v_retention IS NULL THEN
        RETURN NULL;
    END IF;
    -- never the month of the reference date, nor a later one
    RETURN least(
        CASE WHEN v_retention <= interval '100 years' THEN p_reference - v_retention ELSE '-infinity' END,
        pg_catalog.date_trunc('month', p_reference AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
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
    v_reg ops.partitioned_tables := ops.check_parent(p_parent);
    v_cutoff timestamptz := ops.retention_cutoff(p_parent, p_reference, p_retention);
BEGIN
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

CREATE OR REPLACE FUNCTION ops.mirror_parent(p_parent regclass, p_child regclass)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_parent pg_catalog.pg_class;
    v_changes text[] := '{}';
BEGIN
    SELECT * INTO v_parent FROM pg_catalog.pg_class WHERE oid = p_parent;
    IF v_parent.relowner <> (SELECT relowner FROM pg_catalog.pg_class WHERE oid = p_child) THEN
        v_changes := v_changes || pg_catalog.format('OWNER TO %I', pg_catalog.pg_get_userbyid(v_parent.relowner));
    END IF;
    IF v_parent.relrowsecurity THEN
        v_changes := v_changes || 'ENABLE ROW LEVEL SECURITY'::text;
    END IF;
    IF v_parent.relforcerowsecurity THEN
        v_changes := v_changes || 'FORCE ROW LEVEL SECURITY'::text;
    END IF;
    IF pg_catalog.cardinality(v_changes) > 0 THEN
        -- one statement: one lock and one invalidation of the child
        EXECUTE pg_catalog.format('ALTER TABLE %s %s', p_child, pg_catalog.array_to_string(v_changes, ', '));
    END IF;
END
$fn$;
COMMENT ON FUNCTION ops.mirror_parent(regclass, regclass) IS
'Gives a new child its parent''s owner and row level security settings in one ALTER TABLE (no '
'grants: the children are reached through the parent, whose privileges and policies apply).';

CREATE FUNCTION ops.make_partition(
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

CREATE OR REPLACE FUNCTION ops.create_partition(p_parent regclass, p_month date, p_run uuid DEFAULT NULL)
RETURNS TABLE (partition_name name, created boolean, rows_moved bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_month date;
BEGIN
    PERFORM ops.check_parent(p_parent);
    IF p_month IS NULL THEN
        RAISE EXCEPTION 'p_month must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT ops.month_in_range(p_month) THEN
        RAISE EXCEPTION 'month % is outside the partition key range [2000-01-01, 2100-01-01)', p_month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_month := pg_catalog.date_trunc('month', p_month)::date;
    RETURN QUERY SELECT * FROM ops.make_partition(p_parent, v_month, p_run, ops.holds_exclusive(p_parent));
END
$fn$;
COMMENT ON FUNCTION ops.create_partition(regclass, date, uuid) IS
'Creates the partition of the month of p_month (inside ops.key_range(), else 22023) of a '
'registered parent, moving that month''s rows out of the DEFAULT partition into it; attached '
'with SHARE UPDATE EXCLUSIVE on the parent (or created PARTITION OF when the transaction holds '
'ACCESS EXCLUSIVE on it). Serialised per parent and idempotent: created is false when the month '
'is already covered.';

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
    PERFORM ops.lock_parent(p_parent);
    IF ops.default_partition(p_parent) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    v_name := ops.default_partition_name(v_reg.parent_table);
    EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', v_reg.parent_schema, v_name, p_parent);
    PERFORM ops.mirror_parent(p_parent, pg_catalog.format('%I.%I', v_reg.parent_schema, v_name)::regclass);
    INSERT INTO ops.bound_cache AS bc (partition, parent, bound_md5, is_default)
    SELECT
        c.oid,
        p_parent::oid,
        pg_catalog.md5(c.relpartbound::text),
        TRUE
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = pg_catalog.format('%I.%I', v_reg.parent_schema, v_name)::regclass
    ON CONFLICT (partition) DO UPDATE
    SET parent = excluded.parent,
        bound_md5 = excluded.bound_md5,
        is_default = excluded.is_default,
        lower_bound = NULL,
        upper_bound = NULL;
    RETURN TRUE;
END
$fn$;
COMMENT ON FUNCTION ops.ensure_default_partition(regclass) IS
'Creates the DEFAULT partition <parent>_default of a registered parent that wants one and lacks it.';

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
    v_run uuid := pg_catalog.gen_random_uuid();
    v_month date;
    v_made record;
    v_exclusive boolean;
BEGIN
    PERFORM ops.check_reference(p_reference);
    PERFORM ops.check_months(p_premake, 'p_premake', TRUE);
    PERFORM ops.check_months(p_months_back, 'p_months_back');
    IF p_parent IS NOT NULL THEN
        PERFORM ops.check_parent(p_parent);
    END IF;
    FOR parent IN SELECT r.p FROM ops.registered_parents(p_parent) AS r (p) LOOP
        -- the parent's lock until the end of the transaction: planned under it, every month
        -- of the plan is known to be free
        PERFORM ops.lock_parent(parent);
        v_exclusive := ops.holds_exclusive(parent);
        PERFORM ops.ensure_default_partition(parent);
        FOR v_month IN
            SELECT pl.month
            FROM ops.parent_plan(parent, p_reference, p_premake, p_months_back, ARRAY['ensure']) AS pl
            WHERE pl.step = 'create'
        LOOP
            SELECT * INTO v_made FROM ops.make_partition(parent, v_month, v_run, v_exclusive, TRUE);
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
'missing (inside ops.key_range()), for one registered parent or all, in the caller''s transaction '
'(rows of those months waiting in DEFAULT move in). p_reference finite and in the key range, '
'p_premake and p_months_back 0..120 (22023). CALL ops.run_maintenance() does one transaction per '
'partition. Returns the partitions it created.';

CREATE OR REPLACE FUNCTION ops.drain_default(p_parent regclass DEFAULT NULL)
RETURNS TABLE (parent regclass, partition_name name, rows_moved bigint)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := pg_catalog.gen_random_uuid();
    v_step record;
    v_made record;
    v_started timestamptz;
BEGIN
    IF p_parent IS NOT NULL THEN
        PERFORM ops.check_parent(p_parent);
    END IF;
    FOR parent IN SELECT r.p FROM ops.registered_parents(p_parent) AS r (p) LOOP
        FOR v_step IN
            SELECT pl.step, pl.month, pl.rows_waiting, pl.partition_name, pl.detail
            FROM ops.parent_plan(parent, pg_catalog.now(), 0, 0, ARRAY['drain']) AS pl
            WHERE pl.step = 'skip' OR pl.detail = 'default rows'
        LOOP
            v_started := pg_catalog.clock_timestamp();
            IF v_step.step = 'skip' THEN
                PERFORM ops.log_step(
                    v_run, parent, 'skip', v_step.partition_name, NULL, v_started,
                    pg_catalog.format('%s rows kept in DEFAULT: %s', v_step.rows_waiting, v_step.detail)
                );
                CONTINUE;
            END IF;
            SELECT * INTO v_made FROM ops.make_partition(parent, v_step.month, v_run, FALSE);
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
'Moves rows waiting in the DEFAULT partition of one registered parent (or all) into their month''s '
'partition, creating it; in the caller''s transaction. At most ops.drain_cap() months per parent; '
'rows of other months, and rows whose time is outside ops.key_range(), stay and are logged '
'(action skip). Returns what it created.';

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

CREATE OR REPLACE FUNCTION ops.apply_retention(
    p_parent regclass DEFAULT NULL,
    p_reference timestamptz DEFAULT pg_catalog.now(),
    p_retention interval DEFAULT NULL
)
RETURNS TABLE (parent regclass, partition_name name, action text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := pg_catalog.gen_random_uuid();
    v_part record;
BEGIN
    PERFORM ops.check_reference(p_reference);
    PERFORM ops.check_retention(p_retention);
    IF p_parent IS NOT NULL THEN
        PERFORM ops.check_parent(p_parent);
    END IF;
    FOR parent IN SELECT r.p FROM ops.registered_parents(p_parent) AS r (p) LOOP
        FOR v_part IN
            SELECT pl.partition, pl.partition_name, pl.cutoff
            FROM ops.parent_plan(parent, p_reference, 0, 0, ARRAY['retention'], p_retention) AS pl
        LOOP
            action := ops.drop_or_detach(parent, v_part.partition, v_part.cutoff, v_run);
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
'cleanup_old_audit_logs(retention_days)); positive, at most 100 years. Returns what it removed.';

-- Registration -------------------------------------------------------------------------

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
    v_fresh boolean;
BEGIN
    IF p_parent IS NULL OR p_control_column IS NULL OR p_retention_mode IS NULL OR p_default_partition IS NULL THEN
        RAISE EXCEPTION 'p_parent, p_control_column, p_retention_mode and p_default_partition must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ops.check_months(p_premake, 'p_premake');
    PERFORM ops.check_months(p_start_months_back, 'p_start_months_back');
    PERFORM ops.check_retention(p_retention);
    PERFORM ops.check_mode(p_retention_mode);
    IF p_archive_schema = '' THEN
        RAISE EXCEPTION 'p_archive_schema must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
    v_fresh := NOT EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = p_parent);
    IF v_fresh THEN
        -- a parent without partitions holds no row and serves no query: setting it up under
        -- ACCESS EXCLUSIVE costs nobody anything, and each child is one CREATE ... PARTITION OF
        EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_parent);
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
    IF NOT v_fresh THEN
        PERFORM ops.remember_bounds(p_parent);  -- partitions attached before it was registered
    END IF;
END
$fn$;
COMMENT ON FUNCTION ops.register_partitioned_table(regclass, name, integer, integer, interval, text, name, boolean) IS
'Registers a parent range-partitioned by month on p_control_column and sets it up at once: its '
'DEFAULT partition (unless p_default_partition is false), and partitions from p_start_months_back '
'months back to p_premake months ahead (each 0..120). Retention: NULL keeps everything, else '
'positive and at most 100 years; mode drop, or detach into p_archive_schema (default '
'<schema>_archive, created here). A parent without partitions yet is locked ACCESS EXCLUSIVE and '
'its children are created PARTITION OF (it holds no row to protect). Idempotent: re-registering '
'updates the settings.';

CREATE OR REPLACE FUNCTION ops.unregister_partitioned_table(p_parent regclass)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_reg ops.partitioned_tables;
BEGIN
    IF p_parent IS NULL THEN
        RAISE EXCEPTION 'p_parent must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_reg := ops.registered(p_parent);
    IF v_reg IS NULL THEN
        RETURN FALSE;
    END IF;
    DELETE FROM ops.partitioned_tables
    WHERE parent_schema = v_reg.parent_schema AND parent_table = v_reg.parent_table;
    DELETE FROM ops.bound_cache AS bc WHERE bc.parent = p_parent::oid;
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
'uses it and it is empty. For rollbacks, before the parent is dropped. False when it was not '
'registered; 22004 for NULL.';

CREATE OR REPLACE FUNCTION ops.set_retention(p_parent regclass, p_retention interval, p_retention_mode text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_reg ops.partitioned_tables := ops.check_parent(p_parent);
BEGIN
    PERFORM ops.check_retention(p_retention);
    PERFORM ops.check_mode(p_retention_mode);
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
'Changes how long a registered parent keeps its partitions (NULL: forever; else positive, at most '
'100 years) and, optionally, whether old ones are dropped or detached.';

-- For pg_cron: one transaction per partition, one run at a time ----------------------

CREATE OR REPLACE PROCEDURE ops.run_maintenance(p_parent regclass DEFAULT NULL, p_reference timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := pg_catalog.gen_random_uuid();
    v_reference timestamptz := coalesce(p_reference, pg_catalog.now());
    v_lock record;
    v_parents regclass [];
    v_tables text[];
    v_steps text[];
    v_months date [];
    v_names name [];
    v_schemas name [];
    v_partitions regclass [];
    v_rows bigint [];
    v_cutoffs timestamptz [];
    v_details text[];
    v_target regclass;
    v_failed text[] := '{}';
    v_started timestamptz;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RAISE NOTICE 'this server is a standby: maintenance is a no-op here';
        RETURN;
    END IF;
    PERFORM ops.check_reference(v_reference);
    IF p_parent IS NOT NULL THEN
        PERFORM ops.check_parent(p_parent);
    END IF;
    SELECT * INTO v_lock FROM ops.take_run_lock('maintain');
    COMMIT;
    IF NOT v_lock.taken THEN
        RAISE NOTICE 'another maintenance run holds the lock (%)', v_lock.holder;
        RETURN;
    END IF;
    DELETE FROM ops.maintenance_log WHERE logged_at < pg_catalog.now() - interval '90 days';
    -- the whole run's plan in one read-only pass; a run with nothing to do ends here
    SELECT
        pg_catalog.array_agg(p.parent ORDER BY p.n),
        pg_catalog.array_agg(pg_catalog.format('%I.%I', p.parent_schema, p.parent_table) ORDER BY p.n),
        pg_catalog.array_agg(p.step ORDER BY p.n),
        pg_catalog.array_agg(p.month ORDER BY p.n),
        pg_catalog.array_agg(p.partition_name ORDER BY p.n),
        pg_catalog.array_agg(p.partition_schema ORDER BY p.n),
        pg_catalog.array_agg(p.partition ORDER BY p.n),
        pg_catalog.array_agg(p.rows_waiting ORDER BY p.n),
        pg_catalog.array_agg(p.cutoff ORDER BY p.n),
        pg_catalog.array_agg(p.detail ORDER BY p.n)
    INTO v_parents, v_tables, v_steps, v_months, v_names, v_schemas, v_partitions, v_rows, v_cutoffs, v_details
    FROM ops.maintenance_plan(p_parent, v_reference) WITH ORDINALITY AS p (
        parent, parent_schema, parent_table, step, month, partition_schema, partition_name, partition,
        lower_literal, upper_literal, rows_waiting, cutoff, archive_schema, detail, n
    );
    COMMIT;
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(v_steps), 0) LOOP
        -- the first error ends its table's run (logged); the next table still gets its maintenance
        CONTINUE WHEN v_tables[i] = ANY(v_failed);
        v_started := pg_catalog.clock_timestamp();
        BEGIN
            CASE v_steps[i]
                WHEN 'default' THEN
                    PERFORM ops.ensure_default_partition(v_parents[i]);
                WHEN 'create' THEN
                    PERFORM ops.make_partition(v_parents[i], v_months[i], v_run, FALSE);
                WHEN 'skip' THEN
                    PERFORM ops.log_step(
                        v_run, v_parents[i], 'skip', v_names[i], NULL, v_started,
                        pg_catalog.format('%s rows kept in DEFAULT: %s', v_rows[i], v_details[i])
                    );
                WHEN 'drop', 'detach' THEN
                    v_target := coalesce(
                        v_partitions[i], pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schemas[i], v_names[i]))
                    );
                    IF v_target IS NOT NULL THEN
                        PERFORM ops.drop_or_detach(v_parents[i], v_target, v_cutoffs[i], v_run);
                    END IF;
                ELSE
                    RAISE EXCEPTION '%', v_details[i] USING ERRCODE = 'object_not_in_prerequisite_state';
            END CASE;
        EXCEPTION WHEN OTHERS THEN
            v_failed := v_failed || v_tables[i];
            RAISE WARNING 'maintenance of % failed: %', v_tables[i], sqlerrm;
            INSERT INTO ops.maintenance_log (
                run_id, path, parent_schema, parent_table, action, partition_name, duration_ms, detail
            )
            VALUES (
                v_run, 'sql', pg_catalog.split_part(v_tables[i], '.', 1), pg_catalog.split_part(v_tables[i], '.', 2),
                'error', v_names[i],
                round((extract(EPOCH FROM pg_catalog.clock_timestamp() - v_started) * 1000)::numeric, 3),
                CASE WHEN v_steps[i] = 'error' THEN v_details[i] ELSE sqlstate || ': ' || sqlerrm END
            );
        END;
        COMMIT;
    END LOOP;
    PERFORM ops.release_run_lock('maintain');
    IF pg_catalog.cardinality(v_failed) > 0 THEN
        RAISE WARNING 'maintenance finished with % failed table(s); see ops.maintenance_log',
            pg_catalog.cardinality(v_failed);
    END IF;
END
$fn$;
COMMENT ON PROCEDURE ops.run_maintenance(regclass, timestamptz) IS  -- noqa: LT01
'Everything schema-tool maintain does, from SQL (pg_cron: CALL ops.run_maintenance()): per '
'registered parent, create missing partitions, move rows out of the DEFAULT partition (rows it '
'cannot or will not place stay there and are logged as skip), apply retention; one transaction '
'per partition, one run at a time (the run lock the CLI takes, ops.take_run_lock). A failing '
'parent is logged and the others still get their maintenance. No-op on a standby. p_reference: '
'NULL for now, else inside the partition key range (22023).';

-- Data: existing BC partitions get their era in their name; the cache is filled --------

-- as the migrating user: a partition someone else owns is renamed where that user may,
-- and reported where not
RESET ROLE;

DO $rename$
DECLARE
    v_part record;
BEGIN
    FOR v_part IN
        SELECT
            b.partition,
            ops.partition_name(r.parent_table, (b.lower_bound AT TIME ZONE 'UTC')::date) AS wanted
        FROM ops.partitioned_tables AS r
        INNER JOIN pg_catalog.pg_namespace AS n ON r.parent_schema = n.nspname
        INNER JOIN pg_catalog.pg_class AS c ON n.oid = c.relnamespace AND r.parent_table = c.relname
        CROSS JOIN LATERAL ops.child_bounds(c.oid::regclass) AS b
        WHERE
            NOT b.is_default
            AND b.lower_bound > '-infinity'::timestamptz
            AND b.lower_bound < '0001-01-01 00:00:00+00'::timestamptz
            AND b.partition_name = ops.fit_name(
                r.parent_table, pg_catalog.to_char((b.lower_bound AT TIME ZONE 'UTC')::date, '"_"YYYY"_"MM')
            )
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', v_part.partition, v_part.wanted);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'partition % of a BC month keeps its name: %', v_part.partition, sqlerrm;
        END;
    END LOOP;
END
$rename$;

SET LOCAL ROLE schema_tool_owner;

SELECT ops.remember_bounds(c.oid::regclass)
FROM ops.partitioned_tables AS r
INNER JOIN pg_catalog.pg_namespace AS n ON r.parent_schema = n.nspname
INNER JOIN pg_catalog.pg_class AS c ON n.oid = c.relnamespace AND r.parent_table = c.relname;
