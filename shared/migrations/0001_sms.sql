-- Text messaging: practices and their numbers, conversation threads, messages, automatic replies,
-- the sandbox outbox and job bookkeeping. Every row carries its practice.

CREATE TABLE practices (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The number patients should call (E.164), quoted in HELP and emergency replies.
    phone text,
    address text,
    timezone text NOT NULL DEFAULT 'America/Toronto',
    -- {"mon": [["08:00","17:00"]], ...} in the practice's own time zone.
    office_hours jsonb NOT NULL DEFAULT '{"mon":[["08:00","17:00"]],"tue":[["08:00","17:00"]],"wed":[["08:00","17:00"]],"thu":[["08:00","17:00"]],"fri":[["08:00","17:00"]]}',
    holidays date[] NOT NULL DEFAULT '{}',
    -- At most one automatic reply per category per contact within this many hours.
    auto_reply_quiet_hours integer NOT NULL DEFAULT 24 CHECK (auto_reply_quiet_hours >= 0),
    after_hours_note text NOT NULL DEFAULT 'Our office is closed right now and opens again {next_opening}.',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The practice's own numbers (VoIP.ms DIDs, E.164). Inbound texts are routed by them.
CREATE TABLE practice_dids (
    did text PRIMARY KEY CHECK (did ~ '^\+1[2-9][0-9]{2}[2-9][0-9]{6}$'),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX practice_dids_practice ON practice_dids (practice_id);

-- One thread per practice DID and contact number (E.164, or the digits of a short code).
CREATE TABLE sms_conversations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    did text NOT NULL,
    contact text NOT NULL,
    last_message_at timestamptz NOT NULL,
    last_message_preview text,
    unread_count integer NOT NULL DEFAULT 0,
    needs_review boolean NOT NULL DEFAULT false,
    review_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, did, contact)
);
CREATE INDEX sms_conversations_recent ON sms_conversations (practice_id, last_message_at DESC, id DESC);

-- Opt-out is per practice and contact, whichever DID or provider is used.
CREATE TABLE sms_opt_outs (
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    contact text NOT NULL,
    opted_out_at timestamptz NOT NULL,
    PRIMARY KEY (practice_id, contact)
);

CREATE TABLE sms_messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES sms_conversations (id) ON DELETE CASCADE,
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    body text NOT NULL,
    media_urls text[] NOT NULL DEFAULT '{}',
    -- When the message was received (inbound) or handed to the carrier (outbound).
    occurred_at timestamptz NOT NULL,
    origin text NOT NULL CHECK (origin IN ('webhook', 'check_sms', 'api', 'auto_reply')),
    provider text CHECK (provider IN ('voipms', 'twilio', 'sandbox')),
    -- Inbound: the carrier's id, the key that makes delivery idempotent.
    provider_message_id text,
    -- Outbound: one id per part sent.
    provider_message_ids text[] NOT NULL DEFAULT '{}',
    -- The timestamp VoIP.ms sent with a webhook, verbatim (its format is undocumented).
    provider_date text,
    status text NOT NULL CHECK (status IN ('received', 'sending', 'sent', 'sandboxed', 'failed')),
    error text,
    segments integer,
    -- Inbound: the topic found; outbound automatic replies: what they answer.
    auto_response_category text,
    reply_to_id uuid REFERENCES sms_messages (id) ON DELETE SET NULL,
    needs_review boolean NOT NULL DEFAULT false,
    review_reason text,
    -- Inbound: when the auto-responder finished with it. NULL after a crash in between, so a
    -- redelivery finishes the job.
    answered_at timestamptz,
    -- Inbound: when a delivery took it on; a second delivery answers it only once this is stale.
    answering_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    search tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
CREATE UNIQUE INDEX sms_messages_inbound_once
    ON sms_messages (practice_id, provider, provider_message_id) WHERE direction = 'inbound';
CREATE INDEX sms_messages_thread ON sms_messages (conversation_id, occurred_at DESC, id DESC);
CREATE INDEX sms_messages_search ON sms_messages USING gin (search);

-- Keyword rules and reply texts, editable without a deploy. The carrier-keyword kinds (optout, optin,
-- help) keep only their reply text here: their keywords are fixed by carrier rules.
CREATE TABLE auto_response_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    category text NOT NULL CHECK (category IN
        ('appointment', 'emergency', 'office_hours', 'location', 'insurance', 'optout', 'optin', 'help')),
    -- Higher wins when several topics match; emergency is highest.
    priority integer NOT NULL DEFAULT 0,
    -- Words or phrases that trigger on their own (whole words, simple plurals, any case).
    keywords text[] NOT NULL DEFAULT '{}',
    -- Words that trigger only together with one of context_keywords.
    weak_keywords text[] NOT NULL DEFAULT '{}',
    context_keywords text[] NOT NULL DEFAULT '{}',
    -- Phrases removed before matching ("pain is gone" does not mean pain).
    negations text[] NOT NULL DEFAULT '{}',
    reply_template text NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, category)
);

-- The quiet period, claimed atomically: a burst of texts cannot produce more than one reply.
CREATE TABLE auto_reply_claims (
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    contact text NOT NULL,
    category text NOT NULL,
    last_sent_at timestamptz NOT NULL,
    PRIMARY KEY (practice_id, contact, category)
);

-- Texts "sent" while no carrier is configured: stored here, never delivered.
CREATE TABLE sandbox_outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    from_did text NOT NULL,
    to_number text NOT NULL,
    body text NOT NULL,
    parts integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Scheduled job runs; a job's next window starts where its last successful one ended.
CREATE TABLE job_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    practice_id uuid NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
    job text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    window_start timestamptz,
    window_end timestamptz,
    stats jsonb NOT NULL DEFAULT '{}',
    error text
);
CREATE INDEX job_runs_latest ON job_runs (practice_id, job, status, window_end DESC);

-- Every practice starts with the default rules (also when created outside this code).
CREATE FUNCTION seed_auto_response_rules(p_practice_id uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO auto_response_rules
        (practice_id, category, priority, keywords, weak_keywords, context_keywords, negations, reply_template)
    SELECT p_practice_id, r.category, r.priority, r.keywords, r.weak_keywords, r.context_keywords, r.negations, t.reply
    FROM (VALUES
        ('emergency', 100, ARRAY['emergency','urgent','urgently','pain','painful','bleeding','bleed','swelling','swollen','swell','abscess','infection','infected','pus','toothache','ache','aching','throbbing','severe','unbearable','agony','agonizing','puffy','puffed','cant open my mouth','cannot open my mouth','excruciating','hurt','hurting','killing me','knocked out','dry socket','cant breathe','can not breathe','cannot breathe','trouble breathing','difficulty breathing','trouble swallowing','cant swallow']::text[], ARRAY['broke','broken','cracked','chipped','knocked','fell out','came off','came out','loose','sore','numb','fever','temperature','blood','hit','accident','injury','injured']::text[], ARRAY['tooth','teeth','gum','jaw','face','cheek','mouth','lip','tongue','molar','wisdom','crown','filling','extraction','root canal','implant','stitches','socket','bridge','veneer','throat','swelling','swollen','bleeding','blood']::text[], ARRAY['no pain','no more pain','not in pain','without pain','pain free','painfree','pain is gone','pain has gone','pain gone','pain went away','pain is better','pain is much better','pain has been better','pain has been much better','pain medication','pain medicine','pain meds','pain killer','pain reliever','loose baby tooth','loose baby teeth','no bleeding','no longer bleeding','not bleeding','stopped bleeding','bleeding stopped','bleeding has stopped','no swelling','swelling went down','swelling is down','swelling has gone down','not an emergency','not urgent','non urgent','emergency contact','blood test','blood work','blood pressure']::text[]),
        ('appointment', 40, ARRAY['make an appointment','make an appt','book an appointment','next available','any opening','fit me in','squeeze me in']::text[], ARRAY['appointment','appt','apt','book','booking','schedule','reschedule','rebook','cancel','available','avail','availability','opening','slot','spot','cleaning','checkup','check up','exam','consultation','consult','come in','get in','see the dentist','see a dentist','see the doctor','see dr']::text[], ARRAY['need','want','like','can i','could i','can we','could we','can you','could you','may i','do you have','do u have','is there','are there','any','anything','when','earliest','soonest','next','possible','please','pls','plz','new patient','book','schedule','reschedule','cancel','change','move','available','appointment','appt']::text[], ARRAY['the schedule','my schedule','work schedule']::text[]),
        ('insurance', 30, ARRAY['insurance','insurer','insured','coverage','copay','co pay','deductible','dental plan','in network','out of network','ppo','hmo','medicaid','medicare','medi cal','denti cal','delta dental','delta','guardian dental','cigna','aetna','metlife','humana','blue cross','blue shield','bcbs','united healthcare']::text[], ARRAY['accept','accepted','plan','cover','covered','take']::text[], ARRAY['plan','cover','covered','policy','benefit','network']::text[], ARRAY['payment plan','treatment plan','without insurance','no insurance']::text[]),
        ('location', 20, ARRAY['address','location','located','directions','zip code','postal code','cross street','how to get there','how do i get there','bus stop','subway','train station','public transit']::text[], ARRAY['where','park','parking','near','nearby','close to','far','floor','building','suite','entrance','street','get to','closest','find you']::text[], ARRAY['office','clinic','practice','are you','r u','is it','exactly','building','park','parking','lot','garage','street','entrance','floor','find','lost','station','highway']::text[], ARRAY['my address','new address','email address','billing address','mailing address','address on file']::text[]),
        ('office_hours', 10, ARRAY['office hours','business hours','opening hours','your hours','hours of operation']::text[], ARRAY['hour','hr','hrs','open','close','closing','closed','time']::text[], ARRAY['what','when','are you','are u','r u','do you','do u','you guys','u guys','today','tonight','tomorrow','now','still','late','early','until','till','til','morning','afternoon','evening','lunch','day','weekday','weekend','monday','tuesday','wednesday','thursday','friday','saturday','sunday','mon','tue','tues','wed','thu','thur','thurs','fri','sat','sun','holiday','christmas','easter','thanksgiving','new year','office','clinic']::text[], ARRAY['on time','in time','last time','next time','this time','first time','same time','any time','for your time','time is my','have time','have the time','time off']::text[]),
        ('optout', 0, ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[]),
        ('optin', 0, ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[]),
        ('help', 0, ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::text[])
    ) AS r (category, priority, keywords, weak_keywords, context_keywords, negations)
    JOIN (VALUES
        ('emergency', 'If this is a life-threatening emergency, call 911 now. For an urgent problem call {practice_phone}; our team has been alerted to your message.'),
        ('appointment', 'Thanks for texting {practice_name}! To book, move or cancel an appointment, call {practice_phone} or reply with days and times that suit you.'),
        ('office_hours', '{practice_name} is open {office_hours}.'),
        ('location', '{practice_name} is at {address}. Call {practice_phone} if you need directions.'),
        ('insurance', 'We work with most insurance plans and can bill them directly. Reply with your insurer''s name or call {practice_phone} and our team will confirm your coverage.'),
        ('optout', 'You are unsubscribed from {practice_name} texts and will receive no more messages. Reply START to resubscribe.'),
        ('optin', 'You are resubscribed to {practice_name} texts. Reply STOP to unsubscribe or HELP for help.'),
        ('help', '{practice_name}: for help call {practice_phone}. Reply STOP to unsubscribe. Msg & data rates may apply.')
    ) AS t (category, reply) USING (category)
    ON CONFLICT (practice_id, category) DO NOTHING
$$;

CREATE FUNCTION practices_seed_rules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seed_auto_response_rules(NEW.id);
    RETURN NEW;
END
$$;

CREATE TRIGGER practices_seed_rules AFTER INSERT ON practices
    FOR EACH ROW EXECUTE FUNCTION practices_seed_rules();
