-- Texts leave the request path: replies wait in a queue, every part's outcome is recorded, a text's
-- own time (from the carrier) decides consent and thread order, and flags keep the most serious reason.

-- A text's own time is `occurred_at` (the carrier's `date` when it sent one); `arrived_at` is when it
-- reached us. Before this migration both were the arrival time.
ALTER TABLE sms_messages ADD COLUMN arrived_at timestamptz;
UPDATE sms_messages SET arrived_at = occurred_at WHERE direction = 'inbound';

-- queued: waiting for the worker; unknown: a carrier may or may not have delivered a part (never
-- resent, flagged); cancelled: not sent because the contact opted out while it waited.
ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_status_check;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_status_check
    CHECK (status IN ('received', 'queued', 'sending', 'sent', 'sandboxed', 'failed', 'unknown', 'cancelled'));
ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_origin_check;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_origin_check
    CHECK (origin IN ('webhook', 'check_sms', 'api', 'auto_reply', 'twilio_webhook'));

-- A worker's claim on an outbound text while it delivers it: a second delivery of the same task
-- (SQS is at-least-once; housekeeping re-queues) waits instead of sending in parallel.
ALTER TABLE sms_messages ADD COLUMN delivering_until timestamptz;

-- How serious a message's flag is: the thread shows its most serious open reason.
-- 1 needs a person, 2 a text could not be sent or may not have arrived, 3 a possible emergency.
ALTER TABLE sms_messages ADD COLUMN review_severity integer NOT NULL DEFAULT 0;
UPDATE sms_messages SET review_severity = 1 WHERE needs_review;
ALTER TABLE sms_conversations ADD COLUMN review_severity integer NOT NULL DEFAULT 0;
UPDATE sms_conversations SET review_severity = 1 WHERE needs_review;

-- One row per part of an outbound text, written before the carrier is called and updated with what
-- it answered, so a retry never sends a part twice and always finishes the rest.
CREATE TABLE sms_message_parts (
    message_id uuid NOT NULL REFERENCES sms_messages (id) ON DELETE CASCADE,
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    part integer NOT NULL CHECK (part >= 0),
    body text NOT NULL,
    -- pending: not tried; sending: handed to a carrier, no answer yet; unknown: the carrier may have
    -- it (a time-out after the request left); sent; failed: the carrier refused it.
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'unknown', 'sent', 'failed')),
    provider text CHECK (provider IN ('voipms', 'twilio', 'sandbox')),
    provider_message_id text,
    attempted_at timestamptz,
    error text,
    PRIMARY KEY (message_id, part)
);

-- The latest opt-in per practice and contact, by the text's own time: a STOP written before it
-- (however late it arrives) no longer opts the contact out.
CREATE TABLE sms_opt_ins (
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    contact text NOT NULL,
    opted_in_at timestamptz NOT NULL,
    PRIMARY KEY (practice_id, contact)
);

-- The job queue of `pedro serve` (on AWS, SQS takes its place): drained with FOR UPDATE SKIP LOCKED.
CREATE TABLE job_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The task as JSON: ids only, never patient data.
    task jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    -- Not before this time (backoff after a retryable failure).
    run_at timestamptz NOT NULL,
    -- A running task whose worker died is picked up again after this time.
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_queue_ready ON job_queue (run_at) WHERE status <> 'dead';

ALTER TABLE sms_message_parts ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_opt_ins ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_queue ENABLE ROW LEVEL SECURITY;
GRANT ALL ON sms_message_parts, sms_opt_ins, job_queue TO service_role;
GRANT SELECT ON sms_message_parts, sms_opt_ins TO authenticated;
CREATE POLICY sms_message_parts_own ON sms_message_parts FOR SELECT TO authenticated
    USING (practice_id = auth_practice_id());
CREATE POLICY sms_opt_ins_own ON sms_opt_ins FOR SELECT TO authenticated
    USING (practice_id = auth_practice_id());


-- Members mark threads reviewed, which recomputes the thread's most serious open reason.
GRANT UPDATE (review_severity) ON sms_conversations TO authenticated;
