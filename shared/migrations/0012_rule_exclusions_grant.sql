-- 0004 let admins (`authenticated`) update the rule columns that existed then; 0006 added
-- `exclusions` without a grant, so an admin editing a rule's exclusions was refused. Row-level
-- security still limits it to admins of the rule's practice (auto_response_rules_admin_edit).
GRANT UPDATE (exclusions) ON auto_response_rules TO authenticated;
