-- recorder 0007 rollback: nothing to undo. A validated constraint checks what the NOT VALID
-- one checked for new rows; recorder_0004's and recorder_0005's rollbacks drop them.

SET LOCAL ROLE schema_tool_owner;
