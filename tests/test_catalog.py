"""Catalog rules every schema of this package keeps (see docs/conventions.md and docs/security.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pg import TestDB

# Granted to PUBLIC on purpose, with the reason.
PUBLIC_ALLOWED: dict[str, str] = {}

# Columns a policy names without leading an index, with the reason (a WITH CHECK that checks
# the new row filters nothing, so no index would serve it).
POLICY_COLUMNS_UNINDEXED: dict[str, str] = {
    "recorder.execution_jobs.worker_id": "only in execution_jobs_update_scope's WITH CHECK (a tenant may put "
                                         "back in the queue only a job no worker holds)",
}

OUR_SCHEMAS_SQL = """
SELECT n.oid FROM pg_namespace n
WHERE n.nspname = ANY(%(schemas)s)
"""


@pytest.fixture
def schemas(migrated_systems: list[str]) -> list[str]:
    extra = {"recorder": ["auth"]}
    out: list[str] = []
    for system in migrated_systems:
        out.append(system)
        out.extend(extra.get(system, []))
    return out


def test_security_definer_functions_pin_search_path(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ANY(%s) AND p.prosecdef
             AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%')""",
        (schemas,),
    )
    assert rows == [], "SECURITY DEFINER without SET search_path"


def test_nothing_usable_by_public(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """
        SELECT 'function ' || p.oid::regprocedure::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
             aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        WHERE n.nspname = ANY(%(s)s) AND a.grantee = 0
        UNION ALL
        SELECT 'relation ' || c.oid::regclass::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
        WHERE n.nspname = ANY(%(s)s) AND a.grantee = 0
        UNION ALL
        SELECT 'schema ' || n.nspname
        FROM pg_namespace n, aclexplode(n.nspacl) a
        WHERE n.nspname = ANY(%(s)s) AND a.grantee = 0
        ORDER BY 1
        """,
        {"s": schemas},
    )
    found = [r[0] for r in rows if r[0] not in PUBLIC_ALLOWED]
    assert found == [], "usable by PUBLIC without being allowed on purpose"


def test_views_are_security_invoker(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('v')
             AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)""",
        (schemas,),
    )
    assert rows == [], "views must be security_invoker (otherwise they bypass RLS)"


def test_policies_check_writes_and_are_never_plain_true(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """SELECT p.polname, p.polrelid::regclass::text, p.polcmd,
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
                  ARRAY(SELECT pg_get_userbyid(r) FROM unnest(p.polroles) r ORDER BY 1)
           FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s)""",
        (schemas,),
    )
    problems = []
    for name, table, cmd, qual, check, roles in rows:
        if cmd in ("a", "w", "*") and check is None:
            problems.append(f"{table}.{name}: allows writes without WITH CHECK")
        # the one plain-true policy: read-only reporting (ops.grant_read_only), SELECT only
        reporting = name == "schema_tool_readonly_select" and cmd == "r" and roles == ["schema_tool_readonly"]
        if (qual == "true" or check == "true") and not reporting:
            problems.append(f"{table}.{name}: plain true")
    assert problems == []


def test_foreign_key_and_policy_columns_lead_an_index(db: TestDB, schemas: list[str]) -> None:
    unindexed_fks = db.query(
        """
        SELECT con.conrelid::regclass::text || ' (' || con.conname || ')'
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND con.contype = 'f' AND con.conparentid = 0
          AND NOT EXISTS (
              SELECT FROM pg_index i
              WHERE i.indrelid = con.conrelid
                AND (SELECT array_agg(k ORDER BY k) FROM unnest((i.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
                    = (SELECT array_agg(k ORDER BY k) FROM unnest(con.conkey) k))
        ORDER BY 1
        """,
        (schemas,),
    )
    assert unindexed_fks == [], "foreign keys whose columns lead no index"
    unindexed_policy_columns = db.query(
        """
        SELECT DISTINCT d.refobjid::regclass::text || '.' || a.attname
        FROM pg_depend d
        JOIN pg_policy p ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
        JOIN pg_class pc ON pc.oid = p.polrelid JOIN pg_namespace n ON n.oid = pc.relnamespace
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE n.nspname = ANY(%s) AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
          AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = d.refobjid AND i.indkey[0] = d.refobjsubid)
        ORDER BY 1
        """,
        (schemas,),
    )
    unexplained = [r[0] for r in unindexed_policy_columns if r[0] not in POLICY_COLUMNS_UNINDEXED]
    assert unexplained == [], "columns policies filter on that lead no index"


def test_tables_and_jsonb_columns_are_commented(db: TestDB, schemas: list[str]) -> None:
    tables = db.query(
        """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1""",
        (schemas,),
    )
    assert tables == [], "tables without COMMENT"
    columns = db.query(
        """SELECT c.oid::regclass::text || '.' || a.attname
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND a.atttypid = 'jsonb'::regtype AND a.attnum > 0 AND NOT a.attisdropped
             AND col_description(c.oid, a.attnum) IS NULL ORDER BY 1""",
        (schemas,),
    )
    assert columns == [], "JSONB columns without a COMMENT documenting their structure"


def test_objects_belong_to_the_owner_role(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """
        SELECT 'relation ' || c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(s)s) AND c.relowner <> 'schema_tool_owner'::regrole
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(s)s) AND p.proowner <> 'schema_tool_owner'::regrole
        UNION ALL
        SELECT 'type ' || t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = ANY(%(s)s) AND t.typowner <> 'schema_tool_owner'::regrole
        UNION ALL
        SELECT 'schema ' || n.nspname FROM pg_namespace n
        WHERE n.nspname = ANY(%(s)s) AND n.nspowner <> 'schema_tool_owner'::regrole
        ORDER BY 1
        """,
        {"s": schemas},
    )
    assert rows == [], "objects not owned by schema_tool_owner (SET LOCAL ROLE schema_tool_owner in migrations)"


def test_sql_function_bodies_resolve_with_an_empty_search_path(db: TestDB, schemas: list[str]) -> None:
    """Functions without their own search_path must qualify every name (pg_partman's rule)."""
    with db.connect() as conn:
        funcs = conn.execute(
            """SELECT p.oid, p.oid::regprocedure::text FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
               WHERE n.nspname = ANY(%s) AND l.lanname = 'sql' AND p.prosqlbody IS NULL
                 AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%')""",
            (schemas,),
        ).fetchall()
        conn.execute("SET search_path = ''")
        failures = []
        for oid, name in funcs:
            try:
                conn.execute("SELECT pg_catalog.fmgr_sql_validator(%s)", (oid,))
            except Exception as exc:  # noqa: BLE001 - collected and reported
                failures.append(f"{name}: {str(exc).splitlines()[0]}")
    assert failures == []


# -- The security model (docs/security.md): the rules that keep it, per system ---------------
#
# Each rule covers every migrated system except those in PENDING (a system being built, with
# the reason). A new system gets its entries below or the rules fail for it.

PENDING: dict[str, str] = {}

# Roles that act for a tenant, besides <system>_app (which recorder's backend uses only to switch).
TENANT_ROLES: dict[str, list[str]] = {"recorder": ["authenticated", "anon"]}

# SECURITY DEFINER functions a tenant role may execute: why definer rights, and the test that
# shows the function checks the acting tenant (rule 1).
DEFINER_FOR_TENANTS: dict[str, tuple[str, str]] = {
    "replay.has_org_role(uuid,replay.organization_member_role[])": (
        "policies read memberships past their own RLS",
        "replay/test_rls_accounts.py::test_organizations_and_memberships"),
    "replay.is_co_member(uuid)": (
        "policies read memberships past their own RLS",
        "replay/test_rls_accounts.py::test_users_see_themselves_and_co_members_and_write_only_themselves"),
    "replay.create_organization(character varying,character varying,text)": (
        "no INSERT on organizations",
        "replay/test_rls_accounts.py::test_create_organization_makes_the_caller_its_owner"),
    "replay.authenticate_session(text)": ("tokens unreadable", "replay/test_auth.py::test_authenticate_session"),
    "replay.authenticate_api_key(text)": (
        "key hashes unreadable", "replay/test_attacks_accounts.py::test_api_key_counters_limits_and_hashes"),
    "replay.webhook_signature(uuid,text)": (
        "secrets unreadable", "replay/test_auth.py::test_webhook_signature_signs_without_revealing_the_secret"),
    "replay.search_recordings(text)": (
        "indexes usable under RLS", "replay/test_functions.py::test_full_text_and_trigram_search_use_their_indexes"),
    "replay.record_login(text,boolean)": (
        "account state not writable", "replay/test_attacks_accounts.py::test_logins_are_recorded_by_the_database"),
    "replay.mark_email_verified()": (
        "account state not writable", "replay/test_attacks_accounts.py::test_verification_and_closing_an_account"),
    "replay.close_account()": (
        "account state not writable", "replay/test_attacks_accounts.py::test_verification_and_closing_an_account"),
    "replay.invite_member(uuid,replay.organization_member_role,interval)": (
        "no INSERT on invitations", "replay/test_attacks_membership.py::test_who_may_invite_and_with_what"),
    "replay.accept_invitation(text)": (
        "no INSERT on members",
        "replay/test_attacks_membership.py::test_an_invitation_is_accepted_once_by_the_invitee"),
    "replay.recording_placement_unchanged(uuid,uuid,replay.recording_visibility)": (
        "a policy may not query its own table",
        "replay/test_attacks_membership.py::test_only_the_owner_moves_or_publishes_a_recording"),
    "replay.webhook_organization_unchanged(uuid,uuid)": (
        "a policy may not query its own table",
        "replay/test_attacks_membership.py::test_only_the_owner_moves_or_publishes_a_recording"),
    "recorder.user_team_ids(uuid,text)": (
        "team policies read memberships past their own RLS",
        "recorder/test_attacks_tenancy.py::test_user_team_ids_answers_only_for_the_signed_in_user"),
    "recorder.recording_placement_unchanged(uuid,uuid,text)": (
        "a policy may not query its own table",
        "recorder/test_attacks_tenancy.py::test_a_member_of_two_teams_cannot_move_a_colleagues_recording"),
    "recorder.invite_to_team(uuid,text,interval)": (
        "no INSERT on invitations", "recorder/test_attacks_membership.py::test_invitation_validity_and_callers"),
    "recorder.accept_team_invitation(text)": (
        "no INSERT on members",
        "recorder/test_attacks_membership.py::test_an_invitation_is_accepted_once_before_it_expires"),
    "capture.register_user(text,text,bigint)": (
        "no INSERT on users (registration comes before app.user_id)",
        "capture/test_attacks.py::test_registration_and_sign_in_lookup"),
    "capture.find_user_id(text,bigint)": (
        "sign-in comes before app.user_id; users' policies show only the acting user",
        "capture/test_attacks.py::test_registration_and_sign_in_lookup"),
    "capture.record_event(uuid,timestamp with time zone,text,jsonb,text)": (
        "no INSERT on events or webstates (a hash must come from content)",
        "capture/test_attacks.py::test_a_user_cannot_change_or_delete_another_users_rows"),
    "capture.record_events(uuid,jsonb)": (
        "as record_event", "capture/test_attacks.py::test_a_user_cannot_change_or_delete_another_users_rows"),
    "capture.record_events(uuid,timestamp with time zone[],text[],jsonb[],text[])": (
        "as record_event", "capture/test_attacks.py::test_a_user_cannot_change_or_delete_another_users_rows"),
    "capture.end_replay(uuid)": (
        "no UPDATE on replays: end_time is set once",
        "capture/test_attacks.py::test_a_user_cannot_change_or_delete_another_users_rows"),
    "insights.detect_rage_clicks(uuid,integer,interval,integer)": (
        "no INSERT or UPDATE on rage_click_events (derived rows are the database's)",
        "insights/test_attacks.py::test_a_definer_function_refuses_another_projects_session"),
    "insights.build_journey(uuid)": (
        "no INSERT or UPDATE on journey_steps (derived rows are the database's)",
        "insights/test_attacks.py::test_a_definer_function_refuses_another_projects_session"),
    "insights.calculate_experience_score(uuid)": (
        "no INSERT or UPDATE on experience_scores (derived rows are the database's)",
        "insights/test_attacks.py::test_a_definer_function_refuses_another_projects_session"),
    "scrapifie.authenticate_api_key(text,inet,text)": (
        "key hashes unreadable; before a tenant is known",
        "scrapifie/test_api_keys.py::test_every_refusal_looks_the_same"),
    "scrapifie.cancel_scrape_job(uuid)": (
        "no UPDATE of a job's status",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.confirm_user_email(uuid,text)": (
        "account state not writable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.create_api_key(uuid,text,jsonb,text,timestamp with time zone,uuid)": (
        "no INSERT on api_keys; the raw key is never stored",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.deduct_credits(uuid,bigint)": (
        "credits not writable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.get_domain_intelligence(text)": (
        "shared reference data, no tenant rows",
        "scrapifie/test_rls.py::test_system_tables_through_their_functions"),
    "scrapifie.get_fingerprint(text,text,text)": (
        "shared reference data, no tenant rows",
        "scrapifie/test_rls.py::test_system_tables_through_their_functions"),
    "scrapifie.get_proxy_providers()": (
        "shared reference data without credentials",
        "scrapifie/test_rls.py::test_system_tables_through_their_functions"),
    "scrapifie.invalidate_user_sessions(uuid)": (
        "session_version not writable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.revoke_api_key(uuid,uuid,text)": (
        "revocation is for good: no UPDATE of revoked_*",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.set_user_password(uuid,text)": (
        "password hashes unreadable and unwritable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.submit_scrape_job(uuid,text,text,jsonb,text,text,integer,text,uuid,text,text,text,uuid)": (
        "no INSERT on scrape_jobs; prices and references are the database's",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.use_mfa_backup_code(uuid,text)": (
        "backup codes unreadable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.verify_user_mfa_code(uuid,text)": (
        "MFA secrets unreadable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
    "scrapifie.verify_user_password(uuid,text,inet)": (
        "password hashes unreadable",
        "scrapifie/test_attacks_definers.py::test_a_definer_function_refuses_another_organizations_row"),
}

# Columns no tenant role may INSERT or UPDATE (rule 2), and ownership columns set once at
# creation (by policy, to the acting tenant) that no tenant role may UPDATE.
DATABASE_ASSIGNED: dict[str, list[str]] = {
    "replay": [
        *(f"users.{c}" for c in ("role", "is_active", "is_verified", "last_login_at", "failed_login_attempts",
                                 "locked_until", "deleted_at", "created_at", "updated_at")),
        "user_sessions.created_at", "user_sessions.last_activity_at", "api_keys.usage_count", "api_keys.last_used_at",
        "api_keys.rate_limit_per_hour", "api_keys.created_at", "organizations.subscription_plan",
        "organizations.subscription_status", "organizations.subscription_expires_at", "organizations.created_at",
        "organization_members.organization_id", "organization_members.user_id", "organization_members.invited_by",
        "organization_members.invited_at", "organization_members.joined_at", "recordings.created_at",
        "recordings.updated_at", "recording_steps.created_at", "playback_sessions.created_at",
        "playback_sessions.updated_at", "file_storage.archived", "file_storage.archived_at", "file_storage.created_at",
        "webhooks.success_count", "webhooks.failure_count", "webhooks.last_triggered_at", "webhooks.created_at",
        "analytics_events.id", "analytics_events.created_at", "analytics_summaries.metrics", "audit_logs.user_id",
        "audit_logs.created_at", "security_events.status", "security_events.resolved_at", "security_events.resolved_by",
        "security_events.created_at", "organization_invitations.token_hash", "organization_invitations.invited_by",
        "organization_invitations.expires_at",
    ],
    "recorder": [
        *(f"users.{c}" for c in ("tier", "vm_id", "vm_url", "vm_status", "vm_provisioned_at", "vm_last_accessed",
                                 "created_at", "updated_at")),
        "recordings.step_count", "recordings.created_at", "recordings.updated_at",
        *(f"execution_jobs.{c}" for c in ("completed_rows", "successful_rows", "failed_rows", "worker_id", "claimed_at",
                                          "started_at", "completed_at", "attempts", "created_at", "updated_at")),
        "execution_results.created_at", "execution_logs.timestamp", "healing_logs.cache_key",
        "healing_logs.cached_until", "healing_logs.created_at", "vdi_metrics.recorded_at", "vdi_metrics.worker_id",
        "teams.created_at", "team_members.team_id", "team_members.user_id", "team_members.joined_at",
        "team_invitations.token_hash", "team_invitations.invited_by", "team_invitations.expires_at",
    ],
    "scrapifie": [
        *(f"organizations.{c}" for c in ("plan_id", "subscription_status", "stripe_customer_id",
                                         "stripe_subscription_id", "credits_included_monthly", "credits_overage_rate",
                                         "rate_limit_per_second", "max_concurrent_jobs", "max_batch_size",
                                         "data_retention_days", "features", "deleted_at", "credits_balance",
                                         "credits_reset_at", "created_at", "updated_at")),
        *(f"users.{c}" for c in ("password_hash", "password_changed_at", "failed_login_attempts", "locked_until",
                                 "last_login_at", "last_login_ip", "email_verified_at", "session_version")),
        "api_keys.key_hash", "api_keys.rate_limit_override", "api_keys.max_concurrent_override",
        *(f"scrape_jobs.{c}" for c in ("status", "attempts", "max_attempts", "worker_id", "timeout_at", "result_id",
                                       "credits_estimated", "credits_charged", "credit_breakdown", "parent_job_id",
                                       "retry_of_job_id", "api_key_id", "url_hash")),
        "webhooks.failure_count", "webhooks.consecutive_failures",
        "subscriptions.credits_included", "subscriptions.plan_id", "invoices.invoice_number",
        "invoices.total_cents", "usage_records.credits_used",
    ],
    "capture": [
        "users.user_id", "users.github_id", "users.created_at", "replays.replay_id", "replays.start_time",
        "replays.end_time", *(f"events.{c}" for c in ("event_id", "replay_id", "timestamp", "event_type",
                                                       "event_data", "webstate_hash")),
        "webstates.html_hash", "webstates.html_content", "webstates.captured_at",
        *(f"monthly_reports.{c}" for c in ("report_id", "report_month_start", "new_users_count", "total_users_end",
                                           "new_replays_count", "total_replays_end", "generated_at")),
    ],
    "insights": [
        "projects.project_id", "projects.created_at", "users.user_id", "users.project_id", "users.created_at",
        "sessions.session_id", "sessions.project_id", "sessions.duration_ms",
        *(f"{t}.{c}" for t in ("events", "heatmap_points", "latency_metrics", "emotion_predictions",
                               "replay_chunks", "error_logs") for c in ("project_id",)),
        "events.event_id", "heatmap_points.id", "latency_metrics.id", "emotion_predictions.id", "replay_chunks.id",
        "replay_chunks.recorded_at", "error_logs.id",
        *(f"rage_click_events.{c}" for c in ("id", "project_id", "session_id", "element_id", "screen", "click_count",
                                             "first_click_at", "last_click_at", "detected_at")),
        *(f"journey_steps.{c}" for c in ("id", "project_id", "session_id", "step_num", "screen", "occurred_at")),
        *(f"experience_scores.{c}" for c in ("id", "project_id", "session_id", "score", "issues", "calculated_at")),
    ],
}
SET_ONCE: dict[str, list[str]] = {
    "replay": ["recordings.user_id", "webhooks.user_id", "playback_sessions.user_id", "user_sessions.user_id",
               "api_keys.user_id", "api_keys.key_hash"],
    "recorder": ["recordings.user_id", "execution_jobs.user_id", "execution_jobs.recording_id", "teams.owner_id",
                 "execution_results.execution_job_id"],
    "capture": ["replays.user_id"],
    "insights": [*(f"{t}.{c}" for t in ("events", "heatmap_points", "latency_metrics", "emotion_predictions",
                                        "error_logs") for c in ("session_id", "occurred_at")),
                 "replay_chunks.session_id", "emotion_predictions.event_id", "sessions.started_at"],
}

# Functions of a system's shared queue: executable by <system>_worker, never by a tenant role.
QUEUE_NAME = re.compile(
    r"^(claim|requeue|expire|heartbeat|finish|complete|fail|release)_|^record_(execution|vdi|heal)|^lookup_job_")

RANGE = ("'2000-01-01 00:00:00+00'", "'2100-01-01 00:00:00+00'")


@pytest.fixture
def ruled(migrated_systems: list[str]) -> list[str]:
    return [s for s in migrated_systems if s != "ops" and s not in PENDING]


def tenant_roles(system: str) -> list[str]:
    return [f"{system}_app", *TENANT_ROLES.get(system, [])]


def test_definer_functions_tenants_may_call_are_listed_with_their_proof(db: TestDB, ruled: list[str]) -> None:
    callable_by_tenants = {r[0] for system in ruled for r in db.query(
        """SELECT p.oid::regprocedure::text FROM pg_proc p
           WHERE p.pronamespace = %s::regnamespace AND p.prosecdef
             AND EXISTS (SELECT FROM unnest(%s::text[]) r WHERE has_function_privilege(r, p.oid, 'EXECUTE'))""",
        (system, tenant_roles(system)))}
    listed = {f for f in DEFINER_FOR_TENANTS if f.split(".")[0] in ruled}
    assert sorted(callable_by_tenants ^ listed) == [], "SECURITY DEFINER functions tenants call, and the list"
    tests = Path(__file__).parent
    for function in listed:
        path, name = DEFINER_FOR_TENANTS[function][1].split("::")
        assert f"def {name}(" in (tests / path).read_text(), f"{function}: its proof {path}::{name} is missing"


def test_app_and_worker_roles_inherit_nothing(db: TestDB) -> None:
    rows = db.query("""SELECT r.rolname FROM pg_roles r WHERE r.rolname ~ '_(app|worker)$' AND r.rolinherit
                       AND EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid) ORDER BY 1""")
    assert rows == [], "app and worker roles that are members of another role must be NOINHERIT"


def test_no_tenant_role_writes_what_the_database_assigns(db: TestDB, ruled: list[str]) -> None:
    assert [s for s in ruled if s not in DATABASE_ASSIGNED] == [], "every system lists its database-assigned columns"
    writable = []
    for system in ruled:
        for column, privileges in [*((c, ("INSERT", "UPDATE")) for c in DATABASE_ASSIGNED[system]),
                                   *((c, ("UPDATE",)) for c in SET_ONCE.get(system, []))]:
            table, name = column.split(".")
            assert db.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
                             (f"{system}.{table}", name)) == 1, f"{system}.{column} does not exist"
            for role in tenant_roles(system):
                for privilege in privileges:
                    if db.scalar("SELECT has_column_privilege(%s, %s, %s, %s)",
                                 (role, f"{system}.{table}", name, privilege)):
                        writable.append(f"{role}: {privilege} {system}.{column}")
    assert writable == []


def test_queue_functions_belong_to_workers(db: TestDB, ruled: list[str]) -> None:
    problems = []
    for system in ruled:
        for (function,) in db.query("SELECT p.oid::regprocedure::text FROM pg_proc p"
                                    " WHERE p.pronamespace = %s::regnamespace AND p.prorettype <> 'trigger'::regtype",
                                    (system,)):
            if not QUEUE_NAME.match(function.split(".", 1)[1]):
                continue
            for role in tenant_roles(system):
                if db.scalar("SELECT has_function_privilege(%s, %s::regprocedure, 'EXECUTE')", (role, function)):
                    problems.append(f"{role} may run {function}")
            worker = db.scalar("SELECT to_regrole(%s)", (f"{system}_worker",))
            if not worker or not db.scalar("SELECT has_function_privilege(%s, %s::regprocedure, 'EXECUTE')",
                                           (f"{system}_worker", function)):
                problems.append(f"{system}_worker may not run {function}")
    assert problems == []


def test_every_partition_key_is_bounded_by_name(db: TestDB, ruled: list[str]) -> None:
    missing = []
    with db.connect() as conn:
        conn.execute("SET TIME ZONE 'UTC'")  # constants print in the session's time zone
        for system in ruled:
            for table, column in conn.execute(
                    """SELECT c.relname, a.attname FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid
                       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
                       WHERE c.relnamespace = %s::regnamespace AND pt.partstrat = 'r' AND NOT c.relispartition""",
                    (system,)).fetchall():
                row = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
                                   " AND conname = %s AND convalidated",
                                   (f"{system}.{table}", f"chk_{table}_{column}_range")).fetchone()
                if not row or not all(bound in row[0] for bound in RANGE):
                    missing.append(f"{system}.{table}: chk_{table}_{column}_range [{RANGE[0]}, {RANGE[1]})")
    assert missing == []
