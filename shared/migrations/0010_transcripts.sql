-- Transcripts of call recordings, the key facts and summary of each call, and full-text search
-- over them (messages already carry their `search` column).

ALTER TABLE call_recordings
    -- One worker at a time: a second delivery of the same request waits for this to lapse.
    ADD COLUMN transcription_claimed_until timestamptz,
    -- Each provider's reason, in the order they failed: what staff see when every provider failed.
    ADD COLUMN transcription_failures jsonb NOT NULL DEFAULT '[]';

CREATE TABLE call_transcripts (
    recording_id uuid PRIMARY KEY,
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    call_id uuid,
    provider text NOT NULL,
    model text NOT NULL,
    language text,
    text text NOT NULL,
    -- [{"start": seconds, "end": seconds, "text": ...}], when the provider gives times.
    segments jsonb NOT NULL DEFAULT '[]',
    audio_duration_ms bigint,
    -- How long the provider took, all chunks together.
    elapsed_ms bigint NOT NULL,
    created_at timestamptz NOT NULL,
    search tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    FOREIGN KEY (practice_id, recording_id) REFERENCES call_recordings (practice_id, id) ON DELETE CASCADE,
    FOREIGN KEY (practice_id, call_id) REFERENCES phone_calls (practice_id, id) ON DELETE CASCADE
);
CREATE INDEX call_transcripts_call ON call_transcripts (practice_id, call_id);
CREATE INDEX call_transcripts_search ON call_transcripts USING gin (search);

-- Key facts and a summary per transcript, in one versioned schema.
CREATE TABLE call_facts (
    recording_id uuid PRIMARY KEY,
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    call_id uuid,
    schema_version integer NOT NULL,
    facts jsonb NOT NULL,
    summary text NOT NULL,
    request text NOT NULL,
    urgency text NOT NULL,
    -- 'llm' or 'rules', and the model when an LLM wrote them.
    source text NOT NULL CHECK (source IN ('llm', 'rules')),
    model text,
    created_at timestamptz NOT NULL,
    search tsvector GENERATED ALWAYS AS (to_tsvector('english', summary)) STORED,
    FOREIGN KEY (practice_id, recording_id) REFERENCES call_recordings (practice_id, id) ON DELETE CASCADE,
    FOREIGN KEY (practice_id, call_id) REFERENCES phone_calls (practice_id, id) ON DELETE CASCADE
);
CREATE INDEX call_facts_call ON call_facts (practice_id, call_id);
CREATE INDEX call_facts_search ON call_facts USING gin (search);


ALTER TABLE call_transcripts ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_facts ENABLE ROW LEVEL SECURITY;
-- Supabase's default privileges would give the request roles everything: members only read.
REVOKE ALL ON call_transcripts, call_facts FROM PUBLIC, anon, authenticated;
GRANT SELECT ON call_transcripts, call_facts TO authenticated;
CREATE POLICY call_transcripts_read ON call_transcripts FOR SELECT TO authenticated USING (auth_is_member(practice_id));
CREATE POLICY call_facts_read ON call_facts FOR SELECT TO authenticated USING (auth_is_member(practice_id));
GRANT ALL ON call_transcripts, call_facts TO service_role;
