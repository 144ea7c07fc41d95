-- A Supabase-like cluster, part 1: its roles (cluster-wide), run once by the bootstrap
-- superuser supabase_admin. Our own SQL, written to the facts of Supabase's bootstrap
-- (supabase/postgres migrations/db): `postgres` is NOT a superuser but has CREATEROLE,
-- CREATEDB, REPLICATION and BYPASSRLS; the API roles anon, authenticated and service_role
-- (BYPASSRLS) are NOLOGIN and reached through `authenticator`; Auth runs as
-- supabase_auth_admin.

CREATE ROLE postgres LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;
ALTER ROLE postgres SET search_path = "$user", public, extensions;

CREATE ROLE anon NOLOGIN INHERIT;
CREATE ROLE authenticated NOLOGIN INHERIT;
CREATE ROLE service_role NOLOGIN INHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';

CREATE ROLE supabase_auth_admin LOGIN NOINHERIT CREATEROLE;
ALTER ROLE supabase_auth_admin SET search_path = auth;
