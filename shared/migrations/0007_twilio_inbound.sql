-- Texts to the deployment's shared Twilio number. They are routed by the threads we texted through
-- Twilio, so those lookups get indexes; what cannot be routed waits in unrouted_texts for an operator.

-- Inbound Twilio texts are found by MessageSid alone (a redelivery keeps its first thread).
CREATE INDEX sms_messages_inbound_by_provider_id
    ON sms_messages (provider, provider_message_id) WHERE direction = 'inbound';
-- A contact's threads across practices (which practices texted this patient through Twilio).
CREATE INDEX sms_conversations_contact ON sms_conversations (contact);

-- A text no practice could be chosen for: kept verbatim, never answered.
CREATE TABLE unrouted_texts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    received_at timestamptz NOT NULL,
    provider text NOT NULL CHECK (provider IN ('voipms', 'twilio', 'sandbox')),
    provider_message_id text NOT NULL,
    to_number text NOT NULL,
    from_number text NOT NULL,
    body text NOT NULL,
    media_urls text[] NOT NULL DEFAULT '{}',
    -- Why no practice was chosen, for the operator.
    reason text NOT NULL,
    UNIQUE (provider, provider_message_id)
);
-- No practice owns these rows: only the service role (operators, jobs) reads them. Supabase grants
-- new tables to anon and authenticated by default, so take that back explicitly.
ALTER TABLE unrouted_texts ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON unrouted_texts FROM PUBLIC, anon, authenticated;
GRANT ALL ON unrouted_texts TO service_role;
