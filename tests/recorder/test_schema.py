"""Every object the seed names exists under its name (docs/deviations.md (recorder) lists the
exceptions), and the functions are documented and only as privileged as they need to be."""

from __future__ import annotations

from pg import TestDB

SEED_COLUMNS = {
    "users": "id email tier preferences vm_id vm_url vm_status vm_provisioned_at vm_last_accessed default_team_id"
             " created_at updated_at",
    "recordings": "id user_id name description starting_url status step_count duration steps variables"
                  " recording_method team_id visibility created_at updated_at",
    "execution_jobs": "id recording_id user_id status csv_data field_mapping total_rows completed_rows"
                      " successful_rows failed_rows concurrency stop_on_error worker_id claimed_at team_id"
                      " started_at completed_at created_at updated_at",
    "execution_results": "id execution_job_id row_index row_data status duration error_message step_results"
                         " screenshot_url started_at completed_at created_at",
    "execution_logs": "id execution_job_id level message row_index step_number metadata timestamp",
    "healing_logs": "id execution_job_id recording_id step_number original_selector healed_selector healing_method"
                    " confidence_score screenshot_url claude_request claude_response cache_hit cache_key"
                    " cached_until success error_message created_at",
    "vdi_metrics": "id worker_id worker_region cpu_usage memory_usage browser_count jobs_processed jobs_succeeded"
                   " jobs_failed avg_job_duration recorded_at",
    "teams": "id name slug owner_id created_at updated_at",
    "team_members": "id team_id user_id role joined_at",
}

# Sections 3, 5 and 7, less idx_execution_jobs_pending (a duplicate of the poller's index).
SEED_INDEXES = """
idx_users_email idx_users_tier idx_users_vm_id idx_users_vm_status idx_users_default_team idx_users_active_vms
idx_recordings_user_id idx_recordings_status idx_recordings_team_id idx_recordings_created_at
idx_recordings_recording_method idx_recordings_name_gin idx_recordings_steps_gin idx_recordings_user_status_created
idx_execution_jobs_recording_id idx_execution_jobs_user_id idx_execution_jobs_status idx_execution_jobs_created_at
idx_execution_jobs_poller idx_execution_jobs_stale idx_execution_results_job_id idx_execution_results_status
idx_execution_results_row_index idx_execution_logs_job_id_timestamp idx_execution_logs_level
idx_healing_logs_recording_id idx_healing_logs_step_number idx_healing_logs_success idx_healing_logs_healing_method
idx_healing_cache_lookup idx_vdi_metrics_worker_id idx_vdi_metrics_recorded_at idx_teams_owner_id idx_teams_slug
idx_team_members_team_id idx_team_members_user_id
""".split()

SEED_TRIGGERS = {
    ("users", "update_users_updated_at"), ("recordings", "update_recordings_updated_at"),
    ("recordings", "update_recordings_step_count"), ("execution_jobs", "update_execution_jobs_updated_at"),
    ("execution_results", "update_execution_jobs_progress"), ("healing_logs", "set_healing_logs_cache"),
}

SEED_CONSTRAINTS = {
    ("recordings", "fk_recordings_user"), ("execution_jobs", "fk_execution_jobs_recording"),
    ("execution_results", "fk_execution_results_job"), ("users", "check_users_tier"),
    ("recordings", "check_recordings_status"), ("execution_jobs", "check_execution_jobs_status"),
    ("execution_jobs", "check_execution_jobs_concurrency"), ("healing_logs", "check_healing_logs_confidence"),
    ("vdi_metrics", "check_vdi_metrics_cpu"), ("users", "users_email_key"), ("teams", "teams_slug_key"),
    ("team_members", "team_members_team_id_user_id_key"), ("users", "users_id_fkey"),
}

FUNCTIONS = {
    "update_updated_at_column()", "update_recording_step_count()", "update_execution_job_progress()",
    "set_healing_cache_expiration()", "claim_execution_job(text)", "requeue_stale_execution_jobs(interval)",
    "lookup_healing_cache(uuid,integer,text)", "is_valid_steps(jsonb)", "check_execution_job_csv_data()",
    "user_team_ids(uuid,text)",
    # issue 11: the workers' queue, membership by invitation, the tenant checks
    "held_job(uuid,integer)", "heartbeat_execution_job(uuid,integer)",
    "record_execution_result(uuid,integer,integer,text,jsonb,integer,text,jsonb,text,timestamp with time zone,"
    "timestamp with time zone)",
    "record_execution_log(uuid,integer,text,text,integer,integer,jsonb)",
    "lookup_job_healing_cache(uuid,integer,integer,text)",
    "record_healing_log(uuid,integer,integer,text,boolean,text,text,integer,text,jsonb,jsonb,boolean,text)",
    "finish_execution_job(uuid,integer,text)",
    "record_vdi_metrics(text,text,numeric,numeric,integer,integer,integer,integer,integer)",
    "request_user_id()", "recording_placement_unchanged(uuid,uuid,text)", "invite_to_team(uuid,text,interval)",
    "accept_team_invitation(text)",
}

# SECURITY DEFINER, each with its reason in its migration (and tests/test_catalog.py for the
# ones a signed-in user may call)
DEFINERS = {
    "update_execution_job_progress()", "user_team_ids(uuid,text)", "claim_execution_job(text)",
    "requeue_stale_execution_jobs(interval)", "heartbeat_execution_job(uuid,integer)",
    "record_execution_result(uuid,integer,integer,text,jsonb,integer,text,jsonb,text,timestamp with time zone,"
    "timestamp with time zone)",
    "record_execution_log(uuid,integer,text,text,integer,integer,jsonb)",
    "lookup_job_healing_cache(uuid,integer,integer,text)",
    "record_healing_log(uuid,integer,integer,text,boolean,text,text,integer,text,jsonb,jsonb,boolean,text)",
    "finish_execution_job(uuid,integer,text)",
    "record_vdi_metrics(text,text,numeric,numeric,integer,integer,integer,integer,integer)",
    "recording_placement_unchanged(uuid,uuid,text)", "invite_to_team(uuid,text,interval)",
    "accept_team_invitation(text)",
}


def test_every_seed_column_exists(db: TestDB) -> None:
    found = {(t, c) for t, c in db.query("SELECT table_name, column_name FROM information_schema.columns"
                                         " WHERE table_schema = 'recorder'")}
    missing = [(t, c) for t, cols in SEED_COLUMNS.items() for c in cols.split() if (t, c) not in found]
    assert missing == []


def test_every_seed_index_exists(db: TestDB) -> None:
    names = {r[0] for r in db.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'recorder'")}
    assert sorted(set(SEED_INDEXES) - names) == []


def test_every_seed_trigger_and_constraint_exists(db: TestDB) -> None:
    triggers = set(db.query("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
                            " AND tgrelid::regclass::text LIKE 'recorder.%%'"))
    assert {(f"recorder.{t}", n) for t, n in SEED_TRIGGERS} <= triggers
    constraints = set(db.query("SELECT conrelid::regclass::text, conname FROM pg_constraint"
                               " WHERE connamespace = 'recorder'::regnamespace"))
    assert {(f"recorder.{t}", n) for t, n in SEED_CONSTRAINTS} <= constraints


def test_functions_are_commented_and_definer_only_where_needed(db: TestDB) -> None:
    rows = db.query("SELECT p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc') IS NOT NULL, p.prosecdef"
                    " FROM pg_proc p WHERE p.pronamespace = 'recorder'::regnamespace")
    assert {name.removeprefix("recorder.") for name, _, _ in rows} == FUNCTIONS
    assert [name for name, commented, _ in rows if not commented] == []
    definers = {name.removeprefix("recorder.") for name, _, definer in rows if definer}
    assert definers == DEFINERS


def test_the_seed_defaults_hold(db: TestDB) -> None:
    defaults = dict(db.query("SELECT table_name || '.' || column_name, column_default FROM information_schema.columns"
                             " WHERE table_schema = 'recorder' AND column_default IS NOT NULL"))
    assert defaults["users.tier"] == "'starter'::text"
    assert defaults["recordings.status"] == "'draft'::text"
    assert defaults["recordings.visibility"] == "'private'::text"
    assert defaults["execution_jobs.concurrency"] == "5"
    assert defaults["execution_jobs.status"] == "'pending'::text"
    assert defaults["healing_logs.cache_hit"] == "false"
    assert defaults["recordings.id"] == "gen_random_uuid()"
    db.execute("INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001')")
    prefs = db.scalar("INSERT INTO recorder.users (id, email) VALUES ('00000000-0000-4000-8000-000000000001',"
                      " 'a@b.c') RETURNING preferences")
    assert prefs == {
        "recording": {"overlayPosition": "top", "autoMinimize": False, "captureScreenshots": True},
        "replay": {"highlightElements": True, "slowMotion": False, "waitTimeout": 5000},
        "aiHealing": {"mode": "autonomous", "confidenceThreshold": 80, "cacheEnabled": True},
    }


def test_secrets_stay_out_of_reporting(db: TestDB) -> None:
    for column in ("recordings.steps", "recordings.variables", "execution_jobs.csv_data",
                   "execution_results.row_data"):
        table, name = column.split(".")
        assert not db.scalar("SELECT has_column_privilege('schema_tool_readonly', %s, %s, 'SELECT')",
                             (f"recorder.{table}", name)), column
    assert db.scalar("SELECT has_column_privilege('schema_tool_readonly', 'recorder.recordings', 'name', 'SELECT')")
