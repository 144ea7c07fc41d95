-- ops 0005 rollback: nothing to undo on purpose. NOINHERIT is how ops_0003 makes these
-- roles (its own rollback leaves them so as well); giving a role its inheritance back
-- would hand it privileges the security model (docs/security.md) denies it, and which
-- roles were INHERIT before is not recorded anywhere a rollback could trust.

SELECT 1;
