-- replay 0002: the seed's functions, triggers and views, repaired where the seed is
-- wrong (docs/deviations.md (replay) says where and why), plus the full-text search
-- expression and its index, and the trigger that hands retention_policies changes to the
-- ops partition engine.
-- depends: replay_0001_schema
--
-- Maintenance functions (statistics, reindex, vacuum statements, archival, partitions)
-- work on schema replay only and are for the owner role (maintenance), not replay_app.

SET LOCAL ROLE schema_tool_owner;

-- Functions: helpers ---------------------------------------------------------------------

CREATE FUNCTION replay.current_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN nullif(current_setting('app.user_id', TRUE), '')::uuid;
COMMENT ON FUNCTION replay.current_user_id() IS
'The acting user of this transaction (SET LOCAL app.user_id = ''<uuid>''); NULL when unset or empty.';

-- to_tsvector(regconfig, text) is immutable, array_to_string() is only stable (array
-- output in general depends on settings), so PostgreSQL rejects the seed's expression
-- index. For text[] the result cannot change: this wrapper is safely IMMUTABLE.
CREATE FUNCTION replay.recording_search_vector(p_name text, p_description text, p_tags text[])
RETURNS tsvector
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN to_tsvector(
    'english'::regconfig,
    coalesce(p_name, '') || ' ' || coalesce(p_description, '') || ' ' || coalesce(array_to_string(p_tags, ' '), '')
);
COMMENT ON FUNCTION replay.recording_search_vector(text, text, text[]) IS
'Full-text document of a recording (english): name, description and tags. Search with '
'replay.recording_search_vector(name, description, tags) @@ <tsquery> to use idx_recordings_search.';

CREATE INDEX idx_recordings_search ON replay.recordings USING gin (
    replay.recording_search_vector(name, description, tags)
);

-- Functions: the seed's (4.2) ----------------------------------------------------------------

CREATE FUNCTION replay.calculate_compression_ratio(original_size bigint, compressed_size bigint)
RETURNS decimal(5, 2)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN CASE
    WHEN original_size IS NULL OR original_size <= 0 OR compressed_size IS NULL OR compressed_size < 0 THEN NULL
    ELSE round(compressed_size::numeric / original_size::numeric, 2)
END;
COMMENT ON FUNCTION replay.calculate_compression_ratio(bigint, bigint) IS
'compressed_size / original_size rounded to 2 places (the precision of the compression_ratio '
'columns); NULL when a size is missing or negative or original_size is 0.';

CREATE FUNCTION replay.get_recording_step_stats(recording_uuid uuid)
RETURNS TABLE (total_steps integer, avg_step_duration decimal, interaction_type_breakdown jsonb)
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT
        coalesce(sum(t.steps), 0)::integer AS total_steps,
        round(sum(t.duration_sum) / nullif(sum(t.duration_count), 0), 2) AS avg_step_duration,
        coalesce(jsonb_object_agg(t.interaction_type, t.steps), '{}') AS interaction_type_breakdown
    FROM (
        SELECT
            s.interaction_type,
            count(*) AS steps,
            sum(s.execution_time_ms) AS duration_sum,
            count(s.execution_time_ms) AS duration_count
        FROM replay.recording_steps AS s
        WHERE s.recording_id = recording_uuid
        GROUP BY s.interaction_type
    ) AS t;
END;
COMMENT ON FUNCTION replay.get_recording_step_stats(uuid) IS
'Steps of a recording: how many, the average execution_time_ms (2 places, NULL without timings) '
'and the count per interaction type ({"click": 3, ...}; {} without steps). Runs as the caller: '
'replay_app sees the stats of recordings it may read, zeros otherwise.';

-- Partition maintenance (6.2), delegated to the ops engine --------------------------------

CREATE FUNCTION replay.create_monthly_partition(table_name text, year_month text)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_parent regclass;
    v_month date;
BEGIN
    IF year_month IS NULL OR year_month !~ '^[0-9]{4}[-_](0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'year_month must be YYYY-MM or YYYY_MM, not %', coalesce(year_month, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_month := pg_catalog.to_date(pg_catalog.translate(year_month, '_', '-') || '-01', 'YYYY-MM-DD');
    IF table_name IS NOT NULL THEN
        v_parent := pg_catalog.to_regclass(pg_catalog.format('replay.%I', table_name));
    END IF;
    IF v_parent IS NULL OR (ops.registered(v_parent)).parent_table IS NULL THEN
        RAISE EXCEPTION 'replay.% is not a monthly partitioned table', coalesce(table_name, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'analytics_events or audit_logs';
    END IF;
    PERFORM ops.create_partition(v_parent, v_month);
END
$fn$;
COMMENT ON FUNCTION replay.create_monthly_partition(text, text) IS
'Creates the partition of one month (''2026-03'' or ''2026_03'') of replay.analytics_events or '
'replay.audit_logs through ops.create_partition: indexes come from the parent, rows of that month '
'waiting in the DEFAULT partition move in. Idempotent.';

CREATE FUNCTION replay.ensure_future_partitions()
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM ops.ensure_partitions('replay.analytics_events'::regclass);
    PERFORM ops.ensure_partitions('replay.audit_logs'::regclass);
END
$fn$;
COMMENT ON FUNCTION replay.ensure_future_partitions() IS
'Creates the missing partitions of replay.analytics_events and replay.audit_logs from this month '
'to their premake months ahead (ops.ensure_partitions). Idempotent; CALL ops.run_maintenance() '
'does this and more for every system.';

CREATE FUNCTION replay.cleanup_old_audit_logs(retention_days integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_parent regclass := 'replay.audit_logs'::regclass;
    v_removed integer;
BEGIN
    IF retention_days <= 0 THEN
        RAISE EXCEPTION 'retention_days must be positive, not %', retention_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- rows of old months waiting in the DEFAULT partition get their month first, so that
    -- retention reaches them too
    PERFORM ops.drain_default(v_parent);
    SELECT pg_catalog.count(*)::integer INTO v_removed
    FROM ops.apply_retention(v_parent, pg_catalog.now(), pg_catalog.make_interval(days => retention_days));
    RETURN v_removed;
END
$fn$;
COMMENT ON FUNCTION replay.cleanup_old_audit_logs(integer) IS
'Removes the partitions of replay.audit_logs wholly older than retention_days (NULL: the '
'retention_policies row), by their bounds, through ops.apply_retention: dropped, or detached into '
'replay_archive when the policy archives. Never the current or a future month, nor the DEFAULT '
'partition. Returns the number of partitions removed.';

-- Archival (7.1) ---------------------------------------------------------------------------

CREATE FUNCTION replay.archive_rows(p_table name, p_condition text, p_archive boolean)
RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_source regclass := pg_catalog.format('replay.%I', p_table)::regclass;
    v_columns text;
    v_count bigint;
BEGIN
    IF NOT p_archive THEN
        EXECUTE pg_catalog.format(
            'WITH gone AS (DELETE FROM %s WHERE %s RETURNING 1) SELECT pg_catalog.count(*) FROM gone',
            v_source, p_condition
        ) INTO v_count;
        RETURN v_count;
    END IF;
    CREATE SCHEMA IF NOT EXISTS replay_archive;
    EXECUTE pg_catalog.format('CREATE TABLE IF NOT EXISTS replay_archive.%I (LIKE %s)', p_table, v_source);
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_source AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE pg_catalog.format(
        'WITH moved AS (DELETE FROM %s WHERE %s RETURNING %s), '
        'kept AS (INSERT INTO replay_archive.%I (%s) SELECT %s FROM moved RETURNING 1) '
        'SELECT pg_catalog.count(*) FROM kept',
        v_source, p_condition, v_columns, p_table, v_columns, v_columns
    ) INTO v_count;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION replay.archive_rows(name, text, boolean) IS
'Internal to archive_old_data: deletes the rows of replay.<p_table> matching p_condition (SQL built '
'by the caller, never user input), first copying them into replay_archive.<p_table> (created on '
'first use, same columns) when p_archive. Returns the number of rows.';

CREATE FUNCTION replay.archive_old_data(table_name_param text, retention_days_param integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_days integer;
    v_archive boolean;
    v_cutoff timestamptz;
    v_parent regclass;
    v_partition regclass;
    v_rows bigint;
    v_count bigint := 0;
    v_done constant text := '(''completed'', ''failed'', ''cancelled'', ''timeout'')';
BEGIN
    IF retention_days_param <= 0 THEN
        RAISE EXCEPTION 'retention_days_param must be positive, not %', retention_days_param
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT rp.retention_days, rp.archive_before_delete INTO v_days, v_archive
    FROM replay.retention_policies AS rp
    WHERE rp.table_name = table_name_param AND rp.is_active;
    IF retention_days_param IS NOT NULL THEN
        v_days := retention_days_param;
    ELSIF v_days IS NULL THEN
        RAISE EXCEPTION 'No retention policy found for table %', table_name_param
            USING ERRCODE = 'no_data_found';
    END IF;
    v_archive := coalesce(v_archive, TRUE);  -- without a policy: keep a copy
    v_cutoff := pg_catalog.now() - pg_catalog.make_interval(days => v_days);

    CASE table_name_param
        WHEN 'audit_logs', 'analytics_events' THEN
            -- whole monthly partitions, by their bounds (ops engine; drop or detach per the
            -- registry, which the retention_policies trigger keeps in step)
            v_parent := pg_catalog.format('replay.%I', table_name_param)::regclass;
            PERFORM ops.drain_default(v_parent);
            FOR v_partition IN
                SELECT p.partition
                FROM ops.retention_plan(v_parent, pg_catalog.now(), pg_catalog.make_interval(days => v_days)) AS p
            LOOP
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', v_partition) INTO v_rows;
                v_count := v_count + v_rows;
            END LOOP;
            PERFORM ops.apply_retention(v_parent, pg_catalog.now(), pg_catalog.make_interval(days => v_days));

        WHEN 'recordings' THEN
            UPDATE replay.recordings
            SET deleted_at = current_timestamp,
                archived_at = current_timestamp,
                status = 'archived'
            WHERE created_at < v_cutoff AND deleted_at IS NULL AND archived_at IS NULL;
            GET DIAGNOSTICS v_count = ROW_COUNT;

        WHEN 'playback_sessions' THEN
            -- finished sessions, with what hangs off them (their foreign keys cascade)
            PERFORM replay.archive_rows(
                'analytics_events',
                pg_catalog.format(
                    'session_id IN (SELECT s.id FROM replay.playback_sessions AS s '
                    'WHERE s.created_at < %L AND s.status IN %s)', v_cutoff, v_done
                ),
                v_archive
            );
            PERFORM replay.archive_rows(
                'file_storage',
                pg_catalog.format(
                    'session_id IN (SELECT s.id FROM replay.playback_sessions AS s '
                    'WHERE s.created_at < %L AND s.status IN %s)', v_cutoff, v_done
                ),
                v_archive
            );
            PERFORM replay.archive_rows(
                'playback_step_results',
                pg_catalog.format(
                    'session_id IN (SELECT s.id FROM replay.playback_sessions AS s '
                    'WHERE s.created_at < %L AND s.status IN %s)', v_cutoff, v_done
                ),
                v_archive
            );
            v_count := replay.archive_rows(
                'playback_sessions', pg_catalog.format('created_at < %L AND status IN %s', v_cutoff, v_done), v_archive
            );

        WHEN 'playback_step_results' THEN
            v_count := replay.archive_rows(
                'playback_step_results',
                pg_catalog.format('coalesce(completed_at, started_at) < %L', v_cutoff),
                v_archive
            );

        WHEN 'webhook_deliveries' THEN
            v_count := replay.archive_rows(
                'webhook_deliveries', pg_catalog.format('scheduled_at < %L', v_cutoff), v_archive
            );

        WHEN 'user_sessions' THEN
            -- sessions expired for longer than the retention period
            v_count := replay.archive_rows(
                'user_sessions', pg_catalog.format('expires_at < %L', v_cutoff), v_archive
            );

        WHEN 'file_storage' THEN
            IF v_archive THEN
                -- the table has its own archive flag: the stored object moves to cold storage
                UPDATE replay.file_storage
                SET archived = TRUE,
                    archived_at = current_timestamp
                WHERE created_at < v_cutoff AND archived IS NOT TRUE;
                GET DIAGNOSTICS v_count = ROW_COUNT;
            ELSE
                v_count := replay.archive_rows(
                    'file_storage', pg_catalog.format('created_at < %L', v_cutoff), FALSE
                );
            END IF;

        ELSE
            RAISE EXCEPTION 'Archival not implemented for table %', table_name_param
                USING ERRCODE = 'invalid_parameter_value';
    END CASE;

    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION replay.archive_old_data(text, integer) IS
'Applies retention to one table (retention_days_param, else its active retention_policies row): '
'audit_logs/analytics_events drop or detach whole monthly partitions; recordings are soft-deleted '
'and marked archived; finished playback_sessions (with their step results, files and events), '
'playback_step_results, webhook_deliveries and expired user_sessions move to replay_archive when '
'archive_before_delete, else are deleted; file_storage rows are flagged archived (or deleted). '
'Returns the number of rows archived or removed.';

-- Database maintenance (8.1): schema replay only -----------------------------------------

CREATE FUNCTION replay.update_table_statistics()
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_table text;
BEGIN
    -- partitioned parents recurse into their partitions
    FOR v_table IN
        SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
        WHERE n.nspname = 'replay' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname
    LOOP
        EXECUTE 'ANALYZE ' || v_table;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION replay.update_table_statistics() IS
'ANALYZE every table of schema replay (partitioned ones with their partitions). For maintenance '
'(the owner role).';

CREATE FUNCTION replay.reindex_tables()
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_table text;
BEGIN
    -- REINDEX of a partitioned table cannot run inside a transaction (so not in a
    -- function): every leaf table is reindexed instead, which rebuilds the same indexes
    FOR v_table IN
        SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
        WHERE n.nspname = 'replay' AND c.relkind = 'r'
        ORDER BY c.relname
    LOOP
        EXECUTE 'REINDEX TABLE ' || v_table;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION replay.reindex_tables() IS
'REINDEX every table of schema replay, partitions included (one at a time; each table is locked '
'against writes until the calling transaction ends). For maintenance (the owner role).';

CREATE FUNCTION replay.vacuum_analyze_tables()
RETURNS SETOF text
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT pg_catalog.format('VACUUM (ANALYZE) %I.%I', n.nspname, c.relname)
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    WHERE n.nspname = 'replay' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    ORDER BY c.relname;
END;
COMMENT ON FUNCTION replay.vacuum_analyze_tables() IS
'The VACUUM (ANALYZE) statements for every table of schema replay (partitioned ones cover their '
'partitions). VACUUM cannot run inside a function or transaction, so this returns them: run them '
'with psql (SELECT replay.vacuum_analyze_tables() \gexec) or schedule each with pg_cron.';

-- Trigger functions (5.1) ------------------------------------------------------------------

CREATE FUNCTION replay.update_updated_at_column()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.updated_at := current_timestamp;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION replay.update_updated_at_column() IS
'BEFORE UPDATE trigger: sets updated_at to the transaction''s timestamp.';

-- SECURITY DEFINER: audit rows are written by the owner, so the application role needs
-- (and has) no INSERT on audit_logs and cannot forge or alter audit rows.
CREATE FUNCTION replay.audit_trigger_function()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_secrets constant text[] := ARRAY['password_hash', 'session_token', 'refresh_token', 'key_hash', 'secret_key'];
    v_action replay.audit_action;
    v_id uuid;
    v_old jsonb;
    v_new jsonb;
    v_details jsonb;
    v_actor uuid := replay.current_user_id();
    v_key text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_action := 'delete';
        v_id := OLD.id;
        v_old := to_jsonb(OLD);
    ELSIF TG_OP = 'UPDATE' THEN
        v_action := 'update';
        v_id := NEW.id;
        v_old := to_jsonb(OLD);
        v_new := to_jsonb(NEW);
        SELECT jsonb_build_object('changedColumns', coalesce(jsonb_agg(n.key ORDER BY n.key), '[]'))
        INTO v_details
        FROM jsonb_each(v_new) AS n
        WHERE n.value IS DISTINCT FROM v_old -> n.key;
    ELSE
        v_action := 'create';
        v_id := NEW.id;
        v_new := to_jsonb(NEW);
    END IF;
    FOREACH v_key IN ARRAY v_secrets LOOP
        IF v_old ->> v_key IS NOT NULL THEN
            v_old := jsonb_set(v_old, ARRAY[v_key], '"[REDACTED]"');
        END IF;
        IF v_new ->> v_key IS NOT NULL THEN
            v_new := jsonb_set(v_new, ARRAY[v_key], '"[REDACTED]"');
        END IF;
    END LOOP;
    -- the actor, unless gone (a user deleting their own account)
    IF v_actor IS NOT NULL AND NOT EXISTS (SELECT FROM replay.users AS u WHERE u.id = v_actor) THEN
        v_actor := NULL;
    END IF;
    INSERT INTO replay.audit_logs (
        user_id, action, resource_type, resource_id, details, old_values, new_values, status, created_at
    ) VALUES (
        v_actor, v_action, TG_TABLE_NAME, v_id, v_details, v_old, v_new, 'success', current_timestamp
    );
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION replay.audit_trigger_function() IS
'AFTER INSERT/UPDATE/DELETE row trigger: one replay.audit_logs row per change, with the acting '
'user (app.user_id), the old and new row with secret columns (password_hash, tokens, key hashes, '
'webhook secrets) replaced by "[REDACTED]", and the changed column names.';

CREATE FUNCTION replay.tg__sync_retention()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_parent regclass;
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.table_name IS DISTINCT FROM NEW.table_name) THEN
        v_parent := pg_catalog.to_regclass(pg_catalog.format('replay.%I', OLD.table_name));
        IF v_parent IS NOT NULL AND (ops.registered(v_parent)).parent_table IS NOT NULL THEN
            PERFORM ops.set_retention(v_parent, NULL);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        v_parent := pg_catalog.to_regclass(pg_catalog.format('replay.%I', NEW.table_name));
        IF v_parent IS NOT NULL AND (ops.registered(v_parent)).parent_table IS NOT NULL THEN
            PERFORM ops.set_retention(
                v_parent,
                CASE WHEN NEW.is_active THEN pg_catalog.make_interval(days => NEW.retention_days) END,
                CASE WHEN NEW.archive_before_delete IS FALSE THEN 'drop' ELSE 'detach' END
            );
        END IF;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION replay.tg__sync_retention() IS
'AFTER row trigger on retention_policies: a row naming a partitioned table registered with the ops '
'engine sets its retention there (inactive or deleted: keep everything; archive_before_delete: '
'detach into replay_archive, else drop), so maintenance follows the table.';

-- Triggers ---------------------------------------------------------------------------------
-- The seed's updated_at triggers, and the same trigger on the other tables with an
-- updated_at column (its "relevant tables").

CREATE TRIGGER trigger_users_updated_at
BEFORE UPDATE ON replay.users
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_recordings_updated_at
BEFORE UPDATE ON replay.recordings
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_playback_sessions_updated_at
BEFORE UPDATE ON replay.playback_sessions
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_organizations_updated_at
BEFORE UPDATE ON replay.organizations
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_analytics_summaries_updated_at
BEFORE UPDATE ON replay.analytics_summaries
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_file_storage_updated_at
BEFORE UPDATE ON replay.file_storage
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_webhooks_updated_at
BEFORE UPDATE ON replay.webhooks
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_security_events_updated_at
BEFORE UPDATE ON replay.security_events
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER trigger_retention_policies_updated_at
BEFORE UPDATE ON replay.retention_policies
FOR EACH ROW EXECUTE FUNCTION replay.update_updated_at_column();

CREATE TRIGGER audit_recordings_trigger
AFTER INSERT OR UPDATE OR DELETE ON replay.recordings
FOR EACH ROW EXECUTE FUNCTION replay.audit_trigger_function();

CREATE TRIGGER audit_users_trigger
AFTER INSERT OR UPDATE OR DELETE ON replay.users
FOR EACH ROW EXECUTE FUNCTION replay.audit_trigger_function();

CREATE TRIGGER _500_sync_retention
AFTER INSERT OR UPDATE OR DELETE ON replay.retention_policies
FOR EACH ROW EXECUTE FUNCTION replay.tg__sync_retention();

-- Views (4.1, 10.1): security_invoker, so row level security applies to the caller ----------

-- (pg_dump prints a CTE in a layout the snapshot's lint rejects: subqueries instead)
CREATE VIEW replay.recording_summaries WITH (security_invoker = TRUE) AS
SELECT
    r.id,
    r.name,
    r.description,
    r.url,
    r.status,
    r.visibility,
    r.duration_ms,
    r.step_count,
    r.tags,
    r.created_at,
    r.updated_at,
    u.name AS user_name,
    u.email AS user_email,
    o.name AS organization_name,
    coalesce(ps.playback_count, 0) AS playback_count,
    coalesce(ps.avg_success_rate, 0) AS avg_success_rate,
    ps.last_playback
FROM replay.recordings AS r
LEFT JOIN replay.users AS u ON r.user_id = u.id
LEFT JOIN replay.organizations AS o ON r.organization_id = o.id
LEFT JOIN (  -- noqa: ST05
    SELECT
        s.recording_id,
        count(*) AS playback_count,
        avg(s.success_rate) AS avg_success_rate,
        max(s.completed_at) AS last_playback
    FROM replay.playback_sessions AS s
    WHERE s.status = 'completed'
    GROUP BY s.recording_id
) AS ps ON r.id = ps.recording_id
WHERE r.deleted_at IS NULL;
COMMENT ON VIEW replay.recording_summaries IS
'Live recordings with their owner, organization and completed-playback statistics.';

CREATE VIEW replay.active_playback_sessions WITH (security_invoker = TRUE) AS
SELECT
    ps.id,
    ps.recording_id,
    r.name AS recording_name,
    ps.user_id,
    u.name AS user_name,
    ps.status,
    ps.current_step,
    ps.total_steps,
    ps.progress_percentage,
    ps.started_at,
    ps.last_activity_at,
    extract(EPOCH FROM (now() - ps.started_at))::integer AS running_time_seconds
FROM replay.playback_sessions AS ps
INNER JOIN replay.recordings AS r ON ps.recording_id = r.id
LEFT JOIN replay.users AS u ON ps.user_id = u.id
WHERE ps.status IN ('running', 'paused', 'preparing');
COMMENT ON VIEW replay.active_playback_sessions IS
'Playback sessions preparing, running or paused, with how long they have been running.';

-- Aggregated before joining: the seed joins recordings and sessions row by row (a
-- recordings x sessions product per user) for the same counts and averages.
CREATE VIEW replay.user_activity_summaries WITH (security_invoker = TRUE) AS
SELECT
    u.id,
    u.name,
    u.email,
    u.role,
    u.created_at AS user_created_at,
    u.last_login_at,
    coalesce(r.total_recordings, 0) AS total_recordings,
    coalesce(ps.total_playback_sessions, 0) AS total_playback_sessions,
    coalesce(r.avg_recording_duration, 0) AS avg_recording_duration,
    coalesce(ps.avg_playback_success_rate, 0) AS avg_playback_success_rate
FROM replay.users AS u
LEFT JOIN (  -- noqa: ST05
    SELECT
        rr.user_id,
        count(*) AS total_recordings,
        avg(rr.duration_ms) AS avg_recording_duration
    FROM replay.recordings AS rr
    WHERE rr.deleted_at IS NULL
    GROUP BY rr.user_id
) AS r ON u.id = r.user_id
LEFT JOIN (  -- noqa: ST05
    SELECT
        s.user_id,
        count(*) AS total_playback_sessions,
        avg(s.success_rate) AS avg_playback_success_rate
    FROM replay.playback_sessions AS s
    WHERE s.status = 'completed'
    GROUP BY s.user_id
) AS ps ON u.id = ps.user_id
WHERE u.deleted_at IS NULL;
COMMENT ON VIEW replay.user_activity_summaries IS
'Per live user: recordings, completed playback sessions, average recording duration and '
'playback success rate.';

CREATE VIEW replay.database_size_stats WITH (security_invoker = TRUE) AS
SELECT
    t.schemaname,
    t.tablename,
    pg_size_pretty(pg_total_relation_size(c.oid)) AS size,
    pg_total_relation_size(c.oid) AS size_bytes,
    pg_size_pretty(pg_relation_size(c.oid)) AS table_size,
    pg_relation_size(c.oid) AS table_size_bytes,
    pg_total_relation_size(c.oid) - pg_relation_size(c.oid) AS index_size_bytes
FROM pg_catalog.pg_tables AS t
INNER JOIN pg_catalog.pg_namespace AS n ON t.schemaname = n.nspname
INNER JOIN pg_catalog.pg_class AS c ON n.oid = c.relnamespace AND t.tablename = c.relname
WHERE t.schemaname = 'replay'
ORDER BY pg_total_relation_size(c.oid) DESC;
COMMENT ON VIEW replay.database_size_stats IS
'Size of every table of schema replay (partitions listed on their own; a partitioned parent has '
'no storage of its own): total, heap, and the rest (indexes, TOAST).';

CREATE VIEW replay.index_usage_stats WITH (security_invoker = TRUE) AS
SELECT
    s.schemaname,
    s.relname AS tablename,
    s.indexrelname AS indexname,
    s.idx_tup_read,
    s.idx_tup_fetch,
    s.idx_scan,
    pg_size_pretty(pg_relation_size(s.indexrelid)) AS index_size
FROM pg_catalog.pg_stat_user_indexes AS s
WHERE s.schemaname = 'replay'
ORDER BY s.idx_scan DESC;
COMMENT ON VIEW replay.index_usage_stats IS
'Scans, tuples read and size of every index of schema replay (one row per partition''s index).';

CREATE VIEW replay.long_running_queries WITH (security_invoker = TRUE) AS
SELECT
    a.pid,
    now() - a.query_start AS duration,
    a.query,
    a.state,
    a.wait_event_type,
    a.wait_event
FROM pg_catalog.pg_stat_activity AS a
WHERE (now() - a.query_start) > interval '5 minutes' AND a.state = 'active'
ORDER BY duration DESC;
COMMENT ON VIEW replay.long_running_queries IS
'Queries active for more than 5 minutes (other roles'' query text needs pg_read_all_stats).';

-- Grants: read-only role (views) -------------------------------------------------------------

SELECT ops.grant_read_only('replay', ARRAY[
    'users.password_hash',
    'user_sessions.session_token',
    'user_sessions.refresh_token',
    'api_keys.key_hash',
    'webhooks.secret_key',
    'playback_sessions.session_token'
]);
