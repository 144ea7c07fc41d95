-- replay 0008 rollback: nothing to undo. A validated constraint checks what the NOT VALID one
-- checked for new rows; replay_0006's and replay_0007's rollbacks replace or drop them.

SET LOCAL ROLE schema_tool_owner;
