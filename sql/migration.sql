-- Content publisher migration for a real Supabase database. Idempotent: safe to run twice, and on
-- a database that already has the content app's tables. Apply it in the Supabase SQL editor, or:
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/migration.sql
--
-- It adds (1) the columns the app uses but never published DDL for, (2) the indexes the
-- publisher's queries need, (3) the SQL functions through which the publisher claims posts and
-- writes outcomes. Every write is one statement that merges into metadata on the server, so a
-- concurrent edit by the app is never overwritten by a stale copy held in Python.

-- (1) Columns used by the app, no DDL found -------------------------------------------------------
ALTER TABLE public.created_content ADD COLUMN IF NOT EXISTS scheduled_at timestamptz;
ALTER TABLE public.created_content ADD COLUMN IF NOT EXISTS scheduled_date date;
ALTER TABLE public.created_content ADD COLUMN IF NOT EXISTS scheduled_time time;
ALTER TABLE public.created_content ADD COLUMN IF NOT EXISTS published_at timestamptz;
ALTER TABLE public.created_content ADD COLUMN IF NOT EXISTS channel_post_id text;
ALTER TABLE public.content_posts ADD COLUMN IF NOT EXISTS primary_image_url text;
ALTER TABLE public.content_posts ADD COLUMN IF NOT EXISTS published_at timestamptz;

-- (2) Indexes ----------------------------------------------------------------------------------
-- Candidate reads are keyset pages over the scheduled rows only: partial indexes keep an idle
-- run to a few index probes however many published posts accumulate.
CREATE INDEX IF NOT EXISTS publisher_created_content_scheduled
    ON public.created_content (id) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS publisher_created_content_scheduled_user
    ON public.created_content (user_id, id) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS publisher_content_posts_scheduled
    ON public.content_posts (id) WHERE status = 'scheduled';
-- What can be due by now, found without scanning the backlog of future posts: a run reads only
-- the rows dated up to tomorrow, whatever a year of scheduled posts holds.
CREATE INDEX IF NOT EXISTS publisher_created_content_due
    ON public.created_content (scheduled_at) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS publisher_created_content_undated
    ON public.created_content (scheduled_date) WHERE status = 'scheduled' AND scheduled_at IS NULL;
CREATE INDEX IF NOT EXISTS publisher_content_posts_due
    ON public.content_posts (scheduled_date) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS publisher_content_posts_campaign
    ON public.content_posts (campaign_id);
CREATE INDEX IF NOT EXISTS publisher_content_campaigns_user
    ON public.content_campaigns (user_id);
CREATE INDEX IF NOT EXISTS publisher_platform_connections_owner
    ON public.platform_connections (user_id, platform);
CREATE INDEX IF NOT EXISTS idx_created_content_channel_post_id
    ON public.created_content (channel_post_id);

-- (3) Functions ---------------------------------------------------------------------------------

-- Timestamps in metadata are always written in this one format, so that text comparisons by
-- the app's monitoring queries order the same way as time.
CREATE OR REPLACE FUNCTION public.publisher_iso(p_at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');
$$;

-- A metadata text as timestamptz, NULL when it is missing or garbage (never an error: one bad
-- row must not stop a claim statement that covers others).
CREATE OR REPLACE FUNCTION public.publisher_try_timestamptz(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN p_text::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- Metadata as an object to merge into. NULL becomes {}; a non-object value (garbage written by
-- someone else) is kept under _original_metadata instead of being lost.
CREATE OR REPLACE FUNCTION public.publisher_metadata(p_metadata jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_metadata IS NULL OR p_metadata = 'null'::jsonb THEN '{}'::jsonb
        WHEN jsonb_typeof(p_metadata) = 'object' THEN p_metadata
        ELSE jsonb_build_object('_original_metadata', p_metadata)
    END;
$$;

-- True while a run holds a claim younger than the lease. A claim without a readable
-- _publishing_at is treated as abandoned.
CREATE OR REPLACE FUNCTION public.publisher_claim_is_live(p_metadata jsonb, p_lease_seconds integer)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT jsonb_typeof(p_metadata) = 'object'
       AND p_metadata->'_publishing' = 'true'::jsonb
       AND coalesce(
               public.publisher_try_timestamptz(p_metadata->>'_publishing_at')
                   > now() - make_interval(secs => p_lease_seconds),
               false);
$$;

CREATE OR REPLACE FUNCTION public.publisher_holds(p_metadata jsonb, p_run_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(p_metadata) = 'object'
       AND p_metadata->'_publishing' = 'true'::jsonb
       AND p_metadata->>'_publishing_run' = p_run_id;
$$;

CREATE OR REPLACE FUNCTION public.publisher_check_table(p_table text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_table IS NULL OR p_table NOT IN ('created_content', 'content_posts') THEN
        RAISE EXCEPTION 'publisher: unknown table %', p_table USING ERRCODE = '22023';
    END IF;
END;
$$;

-- Functions of earlier versions whose signature or result type changed: dropped, so that the
-- ones below are the only candidates PostgREST can call. Apply this migration together with the
-- code that needs it (`check` compares the versions).
DROP FUNCTION IF EXISTS public.publisher_claim(text, uuid[], text, integer, uuid);
DROP FUNCTION IF EXISTS public.publisher_mark_published(text, uuid, text, text, text, text);
DROP FUNCTION IF EXISTS public.publisher_working_keys();

-- The claim: one UPDATE that takes every listed post still scheduled and not held by a live
-- claim (of the test user only, when given), and returns exactly the rows this run won, as one
-- JSON array: a scalar result is never cut by the API's max-rows setting, whatever a project
-- sets it to. Concurrent claimers block on the row lock and re-check the WHERE clause against
-- the committed row (READ COMMITTED), so each row is won once. A run may claim again what it
-- already holds (a claim whose answer was lost in transit is simply retried).
CREATE OR REPLACE FUNCTION public.publisher_claim_batch(
    p_table text, p_ids uuid[], p_run_id text, p_lease_seconds integer, p_user_id uuid DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_owner text := CASE p_table
        WHEN 'created_content' THEN 't.user_id'
        ELSE '(SELECT c.user_id FROM public.content_campaigns c WHERE c.id = t.campaign_id)'
    END;
    v_row text := CASE p_table
        WHEN 'created_content' THEN 'to_jsonb(t)'
        ELSE 'to_jsonb(t) || jsonb_build_object(''content_campaigns'', '
             '(SELECT jsonb_build_object(''user_id'', c.user_id) FROM public.content_campaigns c '
             'WHERE c.id = t.campaign_id))'
    END;
    v_won jsonb;
BEGIN
    PERFORM public.publisher_check_table(p_table);
    EXECUTE format(
        'WITH won AS (
            UPDATE public.%I AS t
               SET metadata = public.publisher_metadata(t.metadata) || jsonb_build_object(
                       ''_publishing'', true,
                       ''_publishing_at'', public.publisher_iso(now()),
                       ''_publishing_run'', $2)
             WHERE t.id = ANY($1)
               AND t.status = ''scheduled''
               AND (NOT coalesce(public.publisher_claim_is_live(t.metadata, $3), false)
                    OR public.publisher_holds(t.metadata, $2))
               AND ($4::uuid IS NULL OR %s = $4::uuid)
            RETURNING %s AS row)
         SELECT coalesce(jsonb_agg(won.row), ''[]''::jsonb) FROM won', p_table, v_owner, v_row)
    INTO v_won
    USING p_ids, p_run_id, p_lease_seconds, p_user_id;
    RETURN v_won;
END;
$$;

-- Merge a patch into the metadata of a post this run holds: remote ids the moment they exist,
-- and the "sending started" mark before the first call that can publish. Also renews the lease.
CREATE OR REPLACE FUNCTION public.publisher_note(
    p_table text, p_id uuid, p_run_id text, p_patch jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    PERFORM public.publisher_check_table(p_table);
    EXECUTE format(
        'UPDATE public.%I AS t
            SET metadata = public.publisher_metadata(t.metadata) || $3
                           || jsonb_build_object(''_publishing_at'', public.publisher_iso(now()))
          WHERE t.id = $1 AND public.publisher_holds(t.metadata, $2)', p_table)
    USING p_id, p_run_id, coalesce(p_patch, '{}'::jsonb);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count = 1;
END;
$$;

-- Renew the lease of every claim a run holds, in both tables, in one call: a run renews while
-- it works, so no upload however long is taken over by another server. Returns the ids still
-- held, per table; a post missing from the answer has lost its claim and must not be sent.
CREATE OR REPLACE FUNCTION public.publisher_renew(
    p_run_id text, p_created_content uuid[], p_content_posts uuid[]
) RETURNS jsonb
LANGUAGE sql AS $$
    WITH cc AS (
        UPDATE public.created_content AS t
           SET metadata = t.metadata || jsonb_build_object('_publishing_at', public.publisher_iso(now()))
         WHERE t.id = ANY(coalesce(p_created_content, '{}')) AND public.publisher_holds(t.metadata, p_run_id)
        RETURNING t.id
    ), cp AS (
        UPDATE public.content_posts AS t
           SET metadata = t.metadata || jsonb_build_object('_publishing_at', public.publisher_iso(now()))
         WHERE t.id = ANY(coalesce(p_content_posts, '{}')) AND public.publisher_holds(t.metadata, p_run_id)
        RETURNING t.id
    )
    SELECT jsonb_build_object(
        'created_content', coalesce((SELECT jsonb_agg(id) FROM cc), '[]'::jsonb),
        'content_posts', coalesce((SELECT jsonb_agg(id) FROM cp), '[]'::jsonb));
$$;

-- Transient failures so far; garbage reads as 0.
CREATE OR REPLACE FUNCTION public.publisher_attempts(p_metadata jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN public.publisher_metadata(p_metadata)->>'_publish_attempts' ~ '^\d{1,6}$'
                THEN (public.publisher_metadata(p_metadata)->>'_publish_attempts')::integer
                ELSE 0 END;
$$;

-- Keys that only mean something while a run holds the post (dropped by every outcome).
CREATE OR REPLACE FUNCTION public.publisher_claim_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['_publishing', '_publishing_at', '_publishing_run'];
$$;

-- Keys of the attempts at publishing: dropped when a post ends, so that a rescheduled row never
-- resumes an old upload or container; kept only as evidence when the post may be live.
CREATE OR REPLACE FUNCTION public.publisher_attempt_keys() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['_publish_sending_at', '_publish_remote', '_publish_attempts', '_publish_next_attempt_at',
                 '_publish_last_error', '_publish_unconfirmed_at'];
$$;

-- Every outcome write is this one statement: on a post this run holds, optionally set the
-- status (and published_at / channel_post_id for a publication), drop the claim and the listed
-- keys from metadata and merge in the new ones (counting one more failed attempt when asked).
-- Returns whether the claim was still held.
CREATE OR REPLACE FUNCTION public.publisher_settle(
    p_table text, p_id uuid, p_run_id text, p_status text, p_drop text[], p_add jsonb,
    p_channel_post_id text DEFAULT NULL, p_count_attempt boolean DEFAULT false
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
    v_published text := CASE
        WHEN p_status IS DISTINCT FROM 'published' THEN ''
        WHEN p_table = 'created_content' THEN ', published_at = now(), channel_post_id = $6'
        ELSE ', published_at = now()'
    END;
BEGIN
    PERFORM public.publisher_check_table(p_table);
    EXECUTE format(
        'UPDATE public.%I AS t
            SET status = coalesce($3, t.status)%s,
                metadata = (public.publisher_metadata(t.metadata) - public.publisher_claim_keys() - $4) || $5
                           || CASE WHEN $7 THEN jsonb_build_object(
                                  ''_publish_attempts'', public.publisher_attempts(t.metadata) + 1)
                              ELSE ''{}''::jsonb END
          WHERE t.id = $1 AND public.publisher_holds(t.metadata, $2)', p_table, v_published)
    USING p_id, p_run_id, p_status, coalesce(p_drop, '{}'), coalesce(p_add, '{}'::jsonb),
          p_channel_post_id, coalesce(p_count_attempt, false);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count = 1;
END;
$$;

-- Published: the keys the app reads (`<platform>_post_id`, post_url, published_at), plus facts
-- the adapter learnt (p_notes, e.g. the privacy YouTube applied). The attempt's keys go.
CREATE OR REPLACE FUNCTION public.publisher_mark_published(
    p_table text, p_id uuid, p_run_id text, p_platform text, p_post_id text, p_post_url text,
    p_notes jsonb
) RETURNS boolean
LANGUAGE sql AS $$
    SELECT public.publisher_settle(
        p_table, p_id, p_run_id, 'published',
        public.publisher_attempt_keys() || ARRAY['publish_error', 'publish_failed_at'],
        coalesce(p_notes, '{}'::jsonb) || jsonb_build_object(
            p_platform || '_post_id', p_post_id, 'post_url', p_post_url,
            'published_at', public.publisher_iso(now())),
        p_post_id);
$$;

-- Failed: back to draft with a sentence the user understands. The attempt's working state is
-- dropped, so that rescheduling starts clean.
CREATE OR REPLACE FUNCTION public.publisher_mark_failed(
    p_table text, p_id uuid, p_run_id text, p_error text
) RETURNS boolean
LANGUAGE sql AS $$
    SELECT public.publisher_settle(
        p_table, p_id, p_run_id, 'draft', public.publisher_attempt_keys(),
        jsonb_build_object('publish_error', p_error, 'publish_failed_at', public.publisher_iso(now())));
$$;

-- Expired: more overdue than the lateness limit; never published stale.
CREATE OR REPLACE FUNCTION public.publisher_mark_expired(
    p_table text, p_id uuid, p_run_id text, p_reason text
) RETURNS boolean
LANGUAGE sql AS $$
    SELECT public.publisher_settle(
        p_table, p_id, p_run_id, 'expired', public.publisher_attempt_keys(),
        jsonb_build_object('expired_at', public.publisher_iso(now()), 'expired_reason', p_reason));
$$;

-- Unconfirmed: an attempt may have published the post and the platform could not tell. The
-- user is told so (publish_error, or expired_reason when past the lateness limit); the sending
-- mark and remote ids stay as the evidence, so that a rescheduled post is looked for on the
-- platform before anything is sent again.
CREATE OR REPLACE FUNCTION public.publisher_mark_unconfirmed(
    p_table text, p_id uuid, p_run_id text, p_message text, p_expired boolean
) RETURNS boolean
LANGUAGE sql AS $$
    SELECT public.publisher_settle(
        p_table, p_id, p_run_id, CASE WHEN p_expired THEN 'expired' ELSE 'draft' END,
        ARRAY['_publish_next_attempt_at', '_publish_attempts', '_publish_last_error'],
        jsonb_build_object('_publish_unconfirmed_at', public.publisher_iso(now()))
        || CASE WHEN p_expired
                THEN jsonb_build_object('expired_at', public.publisher_iso(now()), 'expired_reason', p_message)
                ELSE jsonb_build_object('publish_error', p_message,
                                        'publish_failed_at', public.publisher_iso(now())) END);
$$;

-- Deferred: stays scheduled, next attempt not before p_next_attempt_at. p_count_attempt is
-- false for rate limits and waiting (they are not failures).
CREATE OR REPLACE FUNCTION public.publisher_defer(
    p_table text, p_id uuid, p_run_id text, p_next_attempt_at timestamptz, p_reason text,
    p_count_attempt boolean
) RETURNS boolean
LANGUAGE sql AS $$
    SELECT public.publisher_settle(
        p_table, p_id, p_run_id, NULL, '{}',
        jsonb_build_object(
            '_publish_next_attempt_at', public.publisher_iso(p_next_attempt_at),
            '_publish_last_error', p_reason),
        NULL, p_count_attempt);
$$;

-- Release: give the post back untouched (not due after all, run out of time, run aborted).
CREATE OR REPLACE FUNCTION public.publisher_release(p_table text, p_id uuid, p_run_id text)
RETURNS boolean
LANGUAGE sql AS $$
    SELECT public.publisher_settle(p_table, p_id, p_run_id, NULL, '{}', '{}');
$$;

-- When each connection last published (the app shows it), for a run's connections at once.
CREATE OR REPLACE FUNCTION public.publisher_touch_connections(p_ids uuid[]) RETURNS integer
LANGUAGE sql AS $$
    WITH touched AS (
        UPDATE public.platform_connections
           SET last_posted_at = (now() AT TIME ZONE 'UTC')
         WHERE id = ANY(coalesce(p_ids, '{}'))
        RETURNING 1)
    SELECT count(*)::integer FROM touched;
$$;

-- Token refreshes are serialised per connection across servers: X rotates refresh tokens, so two
-- refreshes at once would lose the connection. A lock is a row with a holder and an expiry (a
-- crashed holder's lock simply runs out); no transaction stays open across HTTP calls.
CREATE TABLE IF NOT EXISTS public.publisher_connection_locks (
    connection_id uuid PRIMARY KEY,
    holder text NOT NULL,
    locked_until timestamptz NOT NULL
);
ALTER TABLE public.publisher_connection_locks ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION public.publisher_lock_connection(
    p_connection_id uuid, p_holder text, p_seconds integer
) RETURNS boolean
LANGUAGE sql AS $$
    WITH taken AS (
        INSERT INTO public.publisher_connection_locks AS l (connection_id, holder, locked_until)
        VALUES (p_connection_id, p_holder, now() + make_interval(secs => p_seconds))
        ON CONFLICT (connection_id) DO UPDATE
           SET holder = excluded.holder, locked_until = excluded.locked_until
         WHERE l.locked_until < now() OR l.holder = excluded.holder
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM taken);
$$;

CREATE OR REPLACE FUNCTION public.publisher_unlock_connection(p_connection_id uuid, p_holder text)
RETURNS boolean
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM public.publisher_connection_locks
         WHERE connection_id = p_connection_id AND holder = p_holder
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone);
$$;

-- `check` measures the API's effective max-rows setting with this: a set of 5,000 numbers comes
-- back cut to whatever the project allows.
CREATE OR REPLACE FUNCTION public.publisher_rows_probe() RETURNS SETOF integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT generate_series(1, 5000);
$$;

-- Which migration is installed: `check` compares it with the version the publisher needs
-- (PostgREST exposes no catalog, so the version has to be callable).
CREATE OR REPLACE FUNCTION public.publisher_migration_version() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'content publisher migration v2'::text;
$$;

-- Only the service role (the publisher) may call these: they bypass the app's ownership rules.
DO $$
DECLARE
    v_fn text;
BEGIN
    FOREACH v_fn IN ARRAY ARRAY[
        'publisher_claim_batch(text, uuid[], text, integer, uuid)',
        'publisher_note(text, uuid, text, jsonb)',
        'publisher_renew(text, uuid[], uuid[])',
        'publisher_mark_published(text, uuid, text, text, text, text, jsonb)',
        'publisher_mark_failed(text, uuid, text, text)',
        'publisher_mark_expired(text, uuid, text, text)',
        'publisher_mark_unconfirmed(text, uuid, text, text, boolean)',
        'publisher_defer(text, uuid, text, timestamptz, text, boolean)',
        'publisher_release(text, uuid, text)',
        'publisher_settle(text, uuid, text, text, text[], jsonb, text, boolean)',
        'publisher_touch_connections(uuid[])',
        'publisher_lock_connection(uuid, text, integer)',
        'publisher_unlock_connection(uuid, text)',
        'publisher_rows_probe()',
        'publisher_migration_version()'
    ] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION public.%s FROM PUBLIC', v_fn);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
            EXECUTE format('REVOKE ALL ON FUNCTION public.%s FROM anon, authenticated', v_fn);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION public.%s TO service_role', v_fn);
        END IF;
    END LOOP;
END;
$$;


-- PostgREST caches the schema; tell it about the new functions.
NOTIFY pgrst, 'reload schema';
