-- Calls: the call history synced from VoIP.ms (getCDR), the recordings kept in the object store,
-- who downloaded which recording, tombstones that keep deleted calls from coming back, missed-call
-- text-back, and the recording objects still to delete.

-- Missed-call text-back, per practice, off by default. `{practice}` is replaced by its name.
ALTER TABLE practices
    ADD COLUMN missed_call_text_back boolean NOT NULL DEFAULT false,
    ADD COLUMN missed_call_text_back_template text NOT NULL
        DEFAULT 'Sorry we missed your call to {practice}. Reply here to book or ask a question, or we will call you back as soon as we can. Reply STOP to opt out.'
        CHECK (length(btrim(missed_call_text_back_template)) BETWEEN 1 AND 640),
    -- Only calls missed this recently are texted about: a backfill never texts about old calls.
    ADD COLUMN missed_call_text_back_minutes integer NOT NULL DEFAULT 60
        CHECK (missed_call_text_back_minutes BETWEEN 1 AND 1440),
    -- The VoIP.ms account (or sub-account) whose recordings belong to this practice; unset: VOIPMS_ACCOUNT.
    ADD COLUMN voipms_account text;
GRANT UPDATE (missed_call_text_back, missed_call_text_back_template, missed_call_text_back_minutes)
    ON practices TO authenticated;

ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_origin_check;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_origin_check
    CHECK (origin IN ('webhook', 'check_sms', 'api', 'auto_reply', 'twilio_webhook', 'missed_call'));

CREATE TABLE phone_calls (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    -- VoIP.ms `uniqueid`: a string, sometimes alphanumeric. The key that makes the sync idempotent.
    voipms_uniqueid text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- The practice's DID (E.164) and the other party (E.164 when it is a NANP number, else as given).
    did text NOT NULL,
    contact text NOT NULL,
    contact_name text,
    started_at timestamptz NOT NULL,
    duration_seconds integer NOT NULL CHECK (duration_seconds >= 0),
    billable_seconds integer NOT NULL CHECK (billable_seconds >= 0),
    disposition text NOT NULL CHECK (disposition IN ('answered', 'no_answer', 'busy', 'failed')),
    completed boolean NOT NULL,
    account text,
    description text,
    destination_type text,
    -- The missed-call text sent to this caller, when one was.
    text_back_message_id uuid,
    needs_review boolean NOT NULL DEFAULT false,
    review_reason text,
    synced_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (practice_id, voipms_uniqueid),
    UNIQUE (practice_id, id),
    FOREIGN KEY (practice_id, text_back_message_id) REFERENCES sms_messages (practice_id, id)
        ON DELETE SET NULL (text_back_message_id)
);
CREATE INDEX phone_calls_history ON phone_calls (practice_id, started_at DESC, id DESC);
CREATE INDEX phone_calls_contact ON phone_calls (practice_id, contact, started_at DESC);

CREATE TABLE call_recordings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    -- NULL while no call matches (kept and listed, matched again by the next sync).
    call_id uuid,
    -- VoIP.ms `callrecording`: opaque.
    voipms_recording_id text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- As VoIP.ms listed it: our DID for incoming, the number called for outgoing (E.164 when NANP).
    destination text NOT NULL,
    recorded_at timestamptz NOT NULL,
    listed_duration_seconds integer,
    status text NOT NULL DEFAULT 'listed'
        CHECK (status IN ('listed', 'stored', 'corrupt', 'expired', 'deleted')),
    -- Where the MP3 is in the object store; the key names no phone number.
    object_key text,
    size_bytes bigint,
    duration_ms bigint,
    sha256 text,
    content_type text,
    -- Why the last fetch failed, or what is wrong with the file.
    error text,
    fetch_attempts integer NOT NULL DEFAULT 0,
    stored_at timestamptz,
    removed_at timestamptz,
    transcription_status text NOT NULL DEFAULT 'none'
        CHECK (transcription_status IN ('none', 'queued', 'processing', 'completed', 'failed', 'not_configured')),
    transcription_queued_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, voipms_recording_id),
    UNIQUE (practice_id, id),
    FOREIGN KEY (practice_id, call_id) REFERENCES phone_calls (practice_id, id) ON DELETE CASCADE
);
CREATE INDEX call_recordings_call ON call_recordings (practice_id, call_id);
CREATE INDEX call_recordings_unmatched ON call_recordings (practice_id, recorded_at) WHERE call_id IS NULL;
CREATE INDEX call_recordings_to_fetch ON call_recordings (practice_id) WHERE status = 'listed';

-- A deleted call (or recording) is never imported again.
CREATE TABLE call_tombstones (
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    -- 'call' (a VoIP.ms uniqueid) or 'recording' (a VoIP.ms callrecording id).
    kind text NOT NULL CHECK (kind IN ('call', 'recording')),
    voipms_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    deleted_by text NOT NULL,
    PRIMARY KEY (practice_id, kind, voipms_id)
);

-- Every download link handed out: who, which recording, when. Append-only.
CREATE TABLE recording_access_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    -- No foreign key: the trail outlives a deleted recording.
    recording_id uuid NOT NULL,
    call_id uuid,
    actor text NOT NULL,
    role text NOT NULL,
    at timestamptz NOT NULL,
    link_expires_at timestamptz NOT NULL
);
CREATE INDEX recording_access_log_practice ON recording_access_log (practice_id, at DESC);

-- One missed-call text per caller per practice per local day, claimed atomically.
CREATE TABLE missed_call_text_backs (
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    contact text NOT NULL,
    local_day date NOT NULL,
    call_id uuid NOT NULL,
    message_id uuid NOT NULL,
    sent_at timestamptz NOT NULL,
    PRIMARY KEY (practice_id, contact, local_day)
);

-- Objects whose rows are gone but whose bytes may not be yet: deleted after the transaction that
-- removed their rows commits, and retried by the daily pass until the store confirms.
CREATE TABLE pending_object_deletions (
    object_key text PRIMARY KEY,
    practice_id uuid NOT NULL,
    reason text NOT NULL,
    queued_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text
);

-- Row-level security. On Supabase, tables created in `public` give `anon` and `authenticated`
-- every privilege by default; start from none. Members read their practice's calls and
-- recordings and may flag a call; everything that writes history, deletes, or logs access is the
-- service role's, behind the API's own checks (an admin's delete goes through the endpoint, which
-- leaves tombstones and queues the audio for deletion; the client API cannot skip those steps).
ALTER TABLE phone_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_recordings ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE recording_access_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE missed_call_text_backs ENABLE ROW LEVEL SECURITY;
ALTER TABLE pending_object_deletions ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON phone_calls, call_recordings, call_tombstones, recording_access_log, missed_call_text_backs,
    pending_object_deletions FROM PUBLIC, anon, authenticated;

GRANT SELECT ON phone_calls TO authenticated;
GRANT UPDATE (needs_review, review_reason) ON phone_calls TO authenticated;
CREATE POLICY phone_calls_read ON phone_calls FOR SELECT TO authenticated USING (auth_is_member(practice_id));
CREATE POLICY phone_calls_review ON phone_calls FOR UPDATE TO authenticated
    USING (auth_is_member(practice_id)) WITH CHECK (auth_is_member(practice_id));

GRANT SELECT ON call_recordings TO authenticated;
CREATE POLICY call_recordings_read ON call_recordings FOR SELECT TO authenticated USING (auth_is_member(practice_id));

GRANT SELECT ON call_tombstones TO authenticated;
CREATE POLICY call_tombstones_read ON call_tombstones FOR SELECT TO authenticated USING (auth_is_member(practice_id));

-- Who listened: admins read it; only the service role writes it (with the verified caller).
GRANT SELECT ON recording_access_log TO authenticated;
CREATE POLICY recording_access_log_read ON recording_access_log FOR SELECT TO authenticated
    USING (auth_is_admin(practice_id));

GRANT SELECT ON missed_call_text_backs TO authenticated;
CREATE POLICY missed_call_text_backs_read ON missed_call_text_backs FOR SELECT TO authenticated
    USING (auth_is_member(practice_id));

GRANT ALL ON phone_calls, call_recordings, call_tombstones, recording_access_log, missed_call_text_backs,
    pending_object_deletions TO service_role;
