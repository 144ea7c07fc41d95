"""Tenant isolation of accounts, organizations, webhooks, analytics, audit and security
rows: cross-tenant access denied, own and shared access works, secrets never readable."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from pg import TestDB

RLS = errors.InsufficientPrivilege
NO_GRANT = errors.InsufficientPrivilege


def test_users_see_themselves_and_co_members_and_write_only_themselves(app, world) -> None:
    everyone = [world.alice, world.bob, world.vic, world.mona, world.ian, world.carol, world.dave]
    with app.as_user(world.bob) as conn:
        assert app.visible(conn, "users", everyone) == {world.alice, world.bob, world.vic, world.mona}
        assert app.affected(conn, "UPDATE replay.users SET name = 'Bobby' WHERE id = ANY(%s)", (everyone,)) == 1
        assert app.affected(conn, "DELETE FROM replay.users WHERE id = ANY(%s)", (everyone,)) == 1
    with app.as_user(world.dave) as conn:
        assert app.visible(conn, "users", everyone) == {world.dave}
        assert app.affected(conn, "UPDATE replay.users SET name = 'Mallory' WHERE id = %s", (world.alice,)) == 0
    signup = "INSERT INTO replay.users (id, email, password_hash, name) VALUES (%s, %s, 'h', 'Newbie')"
    import uuid

    newcomer = uuid.uuid4()
    with app.as_user(newcomer) as conn:
        assert app.denied(conn, signup, (newcomer, "new@example.test")) is None
        assert app.denied(conn, signup, (uuid.uuid4(), "other@example.test")) is RLS
    with app.as_user(None) as conn:
        assert app.visible(conn, "users", everyone) == set()


def test_password_hashes_and_tokens_are_never_readable(app, make, world) -> None:
    make.insert("user_sessions", user_id=world.bob, session_token="tok-bob", refresh_token="ref-bob",
                expires_at="2999-01-01")
    make.insert("api_keys", user_id=world.bob, name="ci key", key_hash="hash-bob", key_prefix="rk_b")
    make.webhook(world.bob, secret_key="whsec-bob")
    secrets = [("users", "password_hash"), ("user_sessions", "session_token"), ("user_sessions", "refresh_token"),
               ("api_keys", "key_hash"), ("webhooks", "secret_key")]
    with app.as_user(world.bob) as conn:  # not even your own
        for table, column in secrets:
            assert app.denied(conn, f"SELECT {column} FROM replay.{table}") is NO_GRANT, column
            assert app.denied(conn, f"SELECT * FROM replay.{table}") is NO_GRANT, table
        # but they can be written (password change, token rotation, new secret)
        assert app.affected(conn, "UPDATE replay.users SET password_hash = 'new' WHERE id = %s", (world.bob,)) == 1
        assert app.affected(conn, "UPDATE replay.webhooks SET secret_key = 's2' WHERE user_id = %s", (world.bob,)) == 1


def test_read_only_role_sees_no_secret(db: TestDB, make, world) -> None:
    with db.as_role("schema_tool_readonly") as conn:
        assert conn.execute("SELECT count(*) FROM replay.recordings").fetchone() == (0,)
        assert conn.execute("SELECT count(name) FROM replay.users").fetchone() == (7,)
    for table, column in [("users", "password_hash"), ("user_sessions", "session_token"),
                          ("user_sessions", "refresh_token"), ("api_keys", "key_hash"), ("webhooks", "secret_key"),
                          ("playback_sessions", "session_token")]:
        with db.as_role("schema_tool_readonly") as conn, pytest.raises(NO_GRANT):
            conn.execute(f"SELECT {column} FROM replay.{table}")


def test_sessions_and_api_keys_are_the_users_own(app, make, world) -> None:
    for table in ("user_sessions", "api_keys"):
        check_own_rows(app, make, world, table)


def check_own_rows(app, make, world, table: str) -> None:
    if table == "user_sessions":
        rows = [make.insert(table, user_id=u, session_token=f"t-{u}", expires_at="2999-01-01")
                for u in (world.alice, world.bob)]
        insert = "INSERT INTO replay.user_sessions (user_id, session_token, expires_at) VALUES (%s, 'n', '2999-01-01')"
    else:
        rows = [make.insert(table, user_id=u, name="key", key_hash=f"h-{u}", key_prefix="rk_")
                for u in (world.alice, world.bob)]
        insert = "INSERT INTO replay.api_keys (user_id, name, key_hash, key_prefix) VALUES (%s, 'key', 'n', 'rk')"
    with app.as_user(world.bob) as conn:  # alice is bob's co-member: still not his
        assert app.visible(conn, table, rows) == {rows[1]}
        assert app.affected(conn, f"UPDATE replay.{table} SET is_active = FALSE WHERE id = ANY(%s)", (rows,)) == 1
        assert app.affected(conn, f"DELETE FROM replay.{table} WHERE id = ANY(%s)", (rows,)) == 1
        assert app.denied(conn, insert, (world.bob,)) is None
        assert app.denied(conn, insert.replace("'n'", "'m'", 1), (world.alice,)) is RLS


def test_organizations_and_memberships(app, db: TestDB, make, world) -> None:
    orgs = [world.acme, world.umbrella]
    for user, seen, updatable, deletable in [
        (world.alice, {world.acme}, 1, 1), (world.mona, {world.acme}, 0, 0), (world.vic, {world.acme}, 0, 0),
        (world.ian, set(), 0, 0), (world.dave, set(), 0, 0), (world.carol, {world.umbrella}, 1, 1),
    ]:
        with app.as_user(user) as conn:
            assert app.visible(conn, "organizations", orgs) == seen, user
            assert app.affected(conn, "UPDATE replay.organizations SET description = 'd' WHERE id = ANY(%s)",
                                (orgs,)) == updatable, user
            assert app.affected(conn, "DELETE FROM replay.organizations WHERE id = ANY(%s)", (orgs,)) == deletable
            assert app.denied(conn, "INSERT INTO replay.organizations (name, slug) VALUES ('Nope', 'nope')"
                              ) is NO_GRANT
    members = "SELECT user_id FROM replay.organization_members"
    with app.as_user(world.ian) as conn:  # sees only his own (inactive) membership
        assert {r[0] for r in conn.execute(members)} == {world.ian}
    # members join by invitation only (replay/test_attacks_membership.py): nobody inserts them
    invite = "SELECT replay.invite_member(%s, %s)"
    with app.as_user(world.bob) as conn:
        assert {r[0] for r in conn.execute(members)} == {world.alice, world.bob, world.vic, world.mona, world.ian}
        assert app.denied(conn, invite, (world.acme, "member")) is NO_GRANT  # members cannot invite
        assert app.affected(conn, "UPDATE replay.organization_members SET role = 'admin' WHERE user_id = %s",
                            (world.bob,)) == 0  # nor promote themselves
        assert app.affected(conn, "DELETE FROM replay.organization_members WHERE user_id = %s", (world.bob,)) == 1
    make.member(world.acme, world.dave, "admin")
    with app.as_user(world.dave) as conn:  # an admin manages members, not owners
        assert app.denied(conn, invite, (world.acme, "member")) is None
        assert app.denied(conn, invite, (world.acme, "owner")) is NO_GRANT
        assert app.affected(conn, "UPDATE replay.organization_members SET role = 'viewer' WHERE user_id = %s",
                            (world.alice,)) == 0
        assert app.affected(conn, "UPDATE replay.organization_members SET role = 'viewer' WHERE user_id = %s",
                            (world.bob,)) == 1
        assert app.denied(conn, invite, (world.umbrella, "member")) is NO_GRANT  # not their organization


def test_create_organization_makes_the_caller_its_owner(app, db: TestDB, world) -> None:
    with app.as_user(world.dave) as conn:
        org = conn.execute("SELECT replay.create_organization('Dave Co', 'dave-co')").fetchone()[0]
        assert app.visible(conn, "organizations", [org]) == {org}
        assert conn.execute("SELECT role::text FROM replay.organization_members WHERE organization_id = %s",
                            (org,)).fetchall() == [("owner",)]
        with pytest.raises(errors.CheckViolation) as exc, conn.transaction():
            conn.execute("SELECT replay.create_organization('Bad', 'Bad Slug')")
        assert exc.value.diag.constraint_name == "chk_organizations_slug_format"
    with app.as_user(None) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT replay.create_organization('Ghost', 'ghost')")


def test_webhooks_and_deliveries(app, make, world) -> None:
    mine = make.webhook(world.bob)
    acme = make.webhook(world.alice, world.acme)
    theirs = make.webhook(world.carol, world.umbrella)
    hooks = [mine, acme, theirs]
    deliveries = {h: make.delivery(h) for h in hooks}
    for user, seen in [(world.bob, {mine}), (world.mona, {acme}), (world.alice, {acme}), (world.vic, set()),
                       (world.carol, {theirs}), (world.dave, set())]:
        with app.as_user(user) as conn:
            assert app.visible(conn, "webhooks", hooks) == seen, user
            assert app.visible(conn, "webhook_deliveries", list(deliveries.values())) == {
                deliveries[h] for h in seen}, user
            assert app.affected(conn, "UPDATE replay.webhooks SET is_active = FALSE WHERE id = ANY(%s)",
                                (hooks,)) == len(seen)
            assert app.affected(conn, "UPDATE replay.webhook_deliveries SET attempt_count = 1"
                                      " WHERE id = ANY(%s)", (list(deliveries.values()),)) == len(seen)
            assert app.affected(conn, "DELETE FROM replay.webhook_deliveries WHERE id = ANY(%s)",
                                (list(deliveries.values()),)) == len(seen)
            assert app.affected(conn, "DELETE FROM replay.webhooks WHERE id = ANY(%s)", (hooks,)) == len(seen)
    hook = "INSERT INTO replay.webhooks (user_id, organization_id, name, url, events) VALUES (%s, %s, 'h', 'https://h.test/', '{a}')"
    delivery = "INSERT INTO replay.webhook_deliveries (webhook_id, event_type, payload) VALUES (%s, 'e', '{}')"
    with app.as_user(world.bob) as conn:
        assert app.denied(conn, hook.replace("'h'", "'hook'"), (world.bob, None)) is None
        assert app.denied(conn, hook.replace("'h'", "'hook'"), (world.bob, world.acme)) is RLS  # member only
        assert app.denied(conn, hook.replace("'h'", "'hook'"), (world.carol, None)) is RLS
        assert app.denied(conn, delivery, (mine,)) is None
        assert app.denied(conn, delivery, (theirs,)) is RLS
    with app.as_user(world.mona) as conn:
        assert app.denied(conn, hook.replace("'h'", "'hook'"), (world.mona, world.acme)) is None


def test_analytics_audit_and_security_rows(app, make, world) -> None:
    recording = make.recording(world.carol)
    events = {
        "bob": make.insert("analytics_events", event_type="user_login", event_category="auth", user_id=world.bob),
        "acme": make.insert("analytics_events", event_type="api_request", event_category="api", user_id=world.alice,
                            organization_id=world.acme),
        "carol": make.insert("analytics_events", event_type="api_request", event_category="api",
                             user_id=world.carol, organization_id=world.umbrella),
    }
    summaries = {
        "bob": make.insert("analytics_summaries", summary_type="user_activity", time_period="daily",
                           period_start="2026-01-01", period_end="2026-01-02", user_id=world.bob, metrics="{}"),
        "acme": make.insert("analytics_summaries", summary_type="recording_stats", time_period="daily",
                            period_start="2026-01-01", period_end="2026-01-02", organization_id=world.acme,
                            metrics="{}"),
        "global": make.insert("analytics_summaries", summary_type="recording_stats", time_period="daily",
                              period_start="2026-01-01", period_end="2026-01-02", metrics="{}"),
    }
    incident = make.insert("security_events", event_type="failed_login", severity="medium", description="x",
                           user_id=world.bob)
    with app.as_user(world.bob) as conn:
        assert app.visible(conn, "analytics_events", list(events.values())) == {events["bob"]}
        assert app.visible(conn, "analytics_summaries", list(summaries.values())) == {
            summaries["bob"], summaries["acme"]}
        assert app.visible(conn, "security_events", [incident]) == {incident}
        event = "INSERT INTO replay.analytics_events (event_type, event_category, user_id, organization_id, recording_id) VALUES ('api_request', 'api', %s, %s, %s)"
        assert app.denied(conn, event, (world.bob, world.acme, None)) is None
        assert app.denied(conn, event, (world.alice, None, None)) is RLS
        assert app.denied(conn, event, (world.bob, world.umbrella, None)) is RLS
        assert app.denied(conn, event, (world.bob, None, recording)) is RLS  # a recording he cannot read
        for table in ("analytics_events", "analytics_summaries", "audit_logs", "security_events"):
            assert app.denied(conn, f"UPDATE replay.{table} SET created_at = now()") is NO_GRANT, table
            assert app.denied(conn, f"DELETE FROM replay.{table}") is NO_GRANT, table
        report = "INSERT INTO replay.security_events (event_type, severity, description, user_id) VALUES ('suspicious_activity', 'low', 'd', %s)"
        assert app.denied(conn, report, (world.bob,)) is None
        assert app.denied(conn, report, (None,)) is None
        assert app.denied(conn, report, (world.alice,)) is RLS
        # triage (status, resolved_at, resolved_by) is not the reporter's to write
        assert app.denied(conn, report.replace("user_id)", "user_id, status)").replace("%s)", "%s, 'resolved')"),
                          (world.bob,)) is NO_GRANT
    with app.as_user(world.alice) as conn:  # acme owner: the organization's events
        assert app.visible(conn, "analytics_events", list(events.values())) == {events["acme"]}
        assert app.visible(conn, "security_events", [incident]) == set()
    with app.as_user(world.vic) as conn:  # a viewer: not the organization's events
        assert app.visible(conn, "analytics_events", list(events.values())) == set()


def test_maintenance_tables_are_out_of_the_applications_reach(app, world) -> None:
    with app.as_user(world.alice) as conn:
        for table in ("retention_policies", "backup_metadata", "recovery_points"):
            for statement in (f"SELECT * FROM replay.{table}", f"DELETE FROM replay.{table}",
                              f"UPDATE replay.{table} SET id = id", f"INSERT INTO replay.{table} DEFAULT VALUES"):
                assert app.denied(conn, statement) is NO_GRANT, statement
        for function in ("replay.archive_old_data('recordings', 1)", "replay.cleanup_old_audit_logs()",
                         "replay.reindex_tables()", "replay.create_monthly_partition('audit_logs', '2026-01')"):
            assert app.denied(conn, f"SELECT {function}") is NO_GRANT, function


def test_unset_or_empty_user_sees_nothing(db: TestDB, make, world) -> None:
    make.recording(world.alice, visibility="public")
    for settings in ({}, {"app.user_id": ""}):
        with db.as_role("replay_app", settings) as conn:
            for table in ("users", "recordings", "organizations", "organization_members", "webhooks"):
                assert conn.execute(f"SELECT count(*) FROM replay.{table}").fetchone() == (0,), table
    with db.as_role("replay_app", {"app.user_id": "not-a-uuid"}) as conn, pytest.raises(
            psycopg.errors.InvalidTextRepresentation):
        conn.execute("SELECT count(*) FROM replay.recordings")
