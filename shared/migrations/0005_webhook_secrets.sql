-- Each practice's webhook secrets. Only a SHA-256 of each secret is kept, so a dump of the
-- database does not let anyone deliver texts. A practice has one current secret (expires_at NULL)
-- and, after a rotation, older ones that keep working until their expires_at (the grace period
-- while VoIP.ms still holds the old callback URL, or retries a delivery made with it).
CREATE TABLE webhook_secrets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE INDEX webhook_secrets_practice ON webhook_secrets (practice_id);
-- At most one current secret per practice.
CREATE UNIQUE INDEX webhook_secrets_one_current ON webhook_secrets (practice_id) WHERE expires_at IS NULL;

-- Only the service role (the webhook, configure-webhook, the CLI) reads or writes them: staff and
-- anonymous callers get no grant and no policy, so even the hashes stay out of their reach.
ALTER TABLE webhook_secrets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON webhook_secrets FROM PUBLIC, anon, authenticated;
GRANT ALL ON webhook_secrets TO service_role;
