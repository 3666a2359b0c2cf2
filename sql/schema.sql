-- The content app's tables as docs/data-model.md describes them, for tests and the sandbox
-- ONLY. Never run this on a real database: the app owns its schema there; apply
-- sql/migration.sql instead.
--
-- Columns docs/data-model.md marks "used by the app, no DDL found" are deliberately absent here:
-- sql/migration.sql adds them, so every test run also proves the migration works on a database
-- that has only the app's published schema.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA IF NOT EXISTS auth;

-- Supabase-managed; the only place a user's email lives.
CREATE TABLE IF NOT EXISTS auth.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.profiles (
    id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    timezone text
);

CREATE OR REPLACE FUNCTION public.app_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE IF NOT EXISTS public.created_content (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    platform text,
    content_type text NOT NULL,
    channel varchar(50) NOT NULL DEFAULT 'Social Media'
        CHECK (channel IN ('Social Media', 'Blog', 'Email', 'Messages')),
    title text,
    content text NOT NULL,
    hashtags text[] DEFAULT '{}',
    images text[] DEFAULT '{}',
    carousel_images text[] DEFAULT '{}',
    media_url text,
    status text DEFAULT 'generated',
    metadata jsonb DEFAULT '{}',
    channel_post_id text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_created_content_user_id ON public.created_content (user_id);
CREATE INDEX IF NOT EXISTS idx_created_content_platform ON public.created_content (platform);
CREATE INDEX IF NOT EXISTS idx_created_content_content_type ON public.created_content (content_type);
CREATE INDEX IF NOT EXISTS idx_created_content_created_at ON public.created_content (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_created_content_status ON public.created_content (status);
CREATE INDEX IF NOT EXISTS idx_created_content_channel_post_id ON public.created_content (channel_post_id);

DROP TRIGGER IF EXISTS created_content_updated_at ON public.created_content;
CREATE TRIGGER created_content_updated_at BEFORE UPDATE ON public.created_content
    FOR EACH ROW EXECUTE FUNCTION public.app_set_updated_at();

CREATE TABLE IF NOT EXISTS public.content_campaigns (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    campaign_name text NOT NULL,
    week_start_date date NOT NULL,
    week_end_date date NOT NULL,
    status text DEFAULT 'draft',
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.content_posts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id uuid REFERENCES public.content_campaigns (id) ON DELETE CASCADE,
    platform text NOT NULL,
    post_type text NOT NULL,
    title text,
    content text NOT NULL,
    hashtags text[],
    scheduled_date date NOT NULL,
    scheduled_time time NOT NULL,
    status text DEFAULT 'draft',
    metadata jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.platform_connections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid REFERENCES public.profiles (id) ON DELETE CASCADE,
    platform varchar(50) NOT NULL,
    page_id varchar(100),
    page_name varchar(255),
    page_username varchar(255),
    access_token_encrypted text,
    refresh_token_encrypted text,
    token_expires_at timestamp,
    instagram_id varchar(100),
    linkedin_id varchar(100),
    organization_id varchar(100),
    account_type varchar(50),
    is_organization boolean DEFAULT false,
    is_active boolean DEFAULT true,
    connection_status varchar(20) DEFAULT 'active',
    connected_at timestamp DEFAULT now(),
    last_posted_at timestamp,
    last_token_refresh timestamp,
    updated_at timestamp DEFAULT now(),
    token_source varchar(20) DEFAULT 'oauth',
    wordpress_site_url text,
    wordpress_username text,
    wordpress_app_password_encrypted text,
    wordpress_site_name text,
    wordpress_metadata jsonb,
    UNIQUE (user_id, platform, page_id)
);
