-- Rate limits shared by every Lambda instance: one counter per bucket and fixed window.
CREATE TABLE rate_limit_hits (
    bucket text NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
-- Only the service role counts; staff and anonymous callers never see the counters.
ALTER TABLE rate_limit_hits ENABLE ROW LEVEL SECURITY;
GRANT ALL ON rate_limit_hits TO service_role;
