-- @module Tenancy: organisations, their gateway API keys, sealed provider keys and routing rules,
-- and the functions the gateway and the admin CLI call through PostgREST (`supabase.rpc(...)`).
--
-- Access model
--   * Everything lives in schema `public`, the schema PostgREST exposes.
--   * Row level security is on for every table, with no policies: `anon` and `authenticated` see
--     nothing even where a grant slips through; `service_role` (BYPASSRLS) is the only reader.
--   * Table privileges and EXECUTE go to `service_role` only. Supabase's default privileges grant
--     new tables and functions to `anon` and `authenticated`, so both are revoked explicitly.
--   * Functions are SECURITY INVOKER: they run with the caller's rights, so an `anon` caller fails
--     at the EXECUTE check (42501) before anything is read.
--
-- Errors
--   * An unknown organisation or API key raises SQLSTATE 'PGRST' with the JSON PostgREST (11.2+)
--     turns into the response itself: HTTP 404 with body
--     {"code":"P0002","message":"organization not found: <value>","details":null,"hint":null}.
--     A plain `raise ... errcode 'P0002'` would reach the client as HTTP 500: PostgREST maps
--     P0001 to 400 and every other P0xxx to 500 (docs.postgrest.org, "Errors").
--     Called from psql, the same error shows SQLSTATE PGRST and that JSON as its message.
--   * Bad values fail their CHECK (23514, HTTP 400), duplicates their unique index (23505, 409);
--     malformed `p_changes` raise 22023 (400) naming the offending field.
--
-- Meant to run once, in one transaction, on a fresh database (Supabase or plain PostgreSQL 15+).

-- Supabase creates these roles; a plain PostgreSQL does not.
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$$;

grant usage on schema public to service_role;

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text not null check (btrim(name) <> ''),
  plan text not null default 'free' check (plan ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  -- Stripe's subscription statuses.
  subscription_status text not null default 'active' check (
    subscription_status in (
      'trialing', 'active', 'past_due', 'paused', 'incomplete', 'incomplete_expired', 'unpaid',
      'canceled'
    )
  ),
  monthly_request_limit integer check (monthly_request_limit >= 0),
  rpm_limit integer check (rpm_limit > 0),
  features jsonb not null default '{}' check (jsonb_typeof(features) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.organizations is
  'A tenant: its plan, Stripe subscription status, limits and feature flags.';
comment on column public.organizations.slug is
  'Stable lowercase handle; every p_org parameter accepts it as well as the id.';
comment on column public.organizations.monthly_request_limit is
  'Requests per calendar month (UTC); null means unlimited.';
comment on column public.organizations.rpm_limit is
  'Requests per minute across all the organisation''s keys; null means unlimited.';
comment on column public.organizations.features is
  'Feature flags, e.g. {"has_advanced_firewall": true}.';

create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations on delete cascade,
  name text not null default '',
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  display_prefix text not null check (display_prefix <> ''),
  last4 text not null check (char_length(last4) = 4),
  mode text not null check (mode in ('live', 'test')),
  rpm_limit integer check (rpm_limit > 0),
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  -- Target of routing_rules' composite foreign key: a rule's key must belong to the rule's org.
  unique (id, org_id)
);

create index api_keys_org_id_idx on public.api_keys (org_id);

comment on table public.api_keys is
  'Gateway API keys. Only the SHA-256 of the whole key is stored, never the key.';
comment on column public.api_keys.key_hash is
  'Lowercase hex SHA-256 of the whole key: what gateway_resolve_key looks up.';
comment on column public.api_keys.display_prefix is
  'The start of the key shown in listings, e.g. flo_sk_live_Ab3d.';
comment on column public.api_keys.rpm_limit is
  'Requests per minute for this key; null means only the organisation''s limit applies.';
comment on column public.api_keys.revoked_at is 'When the key was revoked; null while active.';

create table public.provider_keys (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations on delete cascade,
  provider text not null check (provider ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
  envelope text not null check (envelope ~ '^v1\.[A-Za-z0-9_-]{1,32}\.'),
  kek_id text generated always as (split_part(envelope, '.', 2)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, provider)
);

create index provider_keys_kek_id_idx on public.provider_keys (kek_id);

comment on table public.provider_keys is
  'Provider API keys an organisation brings, sealed by the vault (src/security/vault.ts).';
comment on column public.provider_keys.envelope is
  'The sealed value v1.<kekId>.<wrapNonce>.<wrappedDek>.<dataNonce>.<ciphertext>.';
comment on column public.provider_keys.kek_id is
  'The key-encryption key that wraps this envelope, so rotation can find what is left to rewrap.';

create table public.routing_rules (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations on delete cascade,
  api_key_id uuid,
  model text check (model is null or (model <> '' and char_length(model) <= 200)),
  strategy text not null check (strategy in ('fallback', 'round-robin', 'weighted', 'latency')),
  -- 1 to 16 targets, each {"provider": "<non-empty>", "model": "<non-empty>", "weight"?: > 0}:
  -- the shape the gateway parses, so a stored rule can never break its organisation's requests.
  targets jsonb not null check (
    case
      when jsonb_typeof(targets) = 'array' then
        jsonb_array_length(targets) between 1 and 16
        -- strict: an element that is itself an array is not unwrapped into its items
        and not jsonb_path_exists(targets, 'strict $[*] ? (@.type() != "object")')
        -- lax: a missing member is an empty sequence (so the comparison is false), not an error
        and not jsonb_path_exists(
          targets,
          'lax $[*] ? (!(@.provider.type() == "string" && @.provider != "")
            || !(@.model.type() == "string" && @.model != "")
            || (exists(@.weight) && !(@.weight.type() == "number" && @.weight > 0)))'
        )
      else false
    end
  ),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- MATCH SIMPLE: an org-wide rule (api_key_id null) is not checked; a key's rule must name a key
  -- of the same organisation. Deleting the key deletes its rules.
  constraint routing_rules_api_key_same_org_fkey foreign key (api_key_id, org_id)
    references public.api_keys (id, org_id) on delete cascade
);

-- One rule per (organisation, key or none, model or none).
create unique index routing_rules_scope_key on public.routing_rules (
  org_id, (coalesce(api_key_id::text, '')), (coalesce(model, ''))
);
create index routing_rules_api_key_id_idx on public.routing_rules (api_key_id);

comment on table public.routing_rules is
  'How requests are routed: per organisation, optionally narrowed to one key and/or one model.';
comment on column public.routing_rules.api_key_id is
  'The key this rule is for; null for the organisation''s rule.';
comment on column public.routing_rules.model is
  'The requested model this rule applies to; null for any model.';
comment on column public.routing_rules.targets is
  'Ordered targets: [{"provider": "openai", "model": "gpt-4o", "weight": 2}, ...].';

-- ---------------------------------------------------------------------------------------------
-- Internal helpers (reachable by service_role only, like everything else here)
-- ---------------------------------------------------------------------------------------------

create function public.tenancy_touch_updated_at() returns trigger
language plpgsql
set search_path = public
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

comment on function public.tenancy_touch_updated_at() is
  'Trigger: sets updated_at on every update.';

create trigger organizations_touch_updated_at before update on public.organizations
  for each row execute function public.tenancy_touch_updated_at();
create trigger provider_keys_touch_updated_at before update on public.provider_keys
  for each row execute function public.tenancy_touch_updated_at();
create trigger routing_rules_touch_updated_at before update on public.routing_rules
  for each row execute function public.tenancy_touch_updated_at();

create function public.tenancy_not_found(p_what text, p_value text) returns void
language plpgsql
set search_path = public
as $$
begin
  -- PostgREST answers SQLSTATE PGRST with the message as the body and the detail's status.
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', 'P0002',
      'message', format('%s not found: %s', p_what, coalesce(p_value, 'null')),
      'details', null,
      'hint', null
    )::text,
    detail = '{"status": 404, "headers": {}}';
end
$$;

comment on function public.tenancy_not_found(text, text) is
  'Raises "<what> not found: <value>" so that PostgREST answers 404 with code P0002.';

create function public.tenancy_org_id(p_org text) returns uuid
language plpgsql
stable
set search_path = public
as $$
declare
  v_id uuid;
begin
  -- A uuid-shaped value is tried as an id first; a slug may look like one too.
  if p_org ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select id into v_id from organizations where id = p_org::uuid;
  end if;
  if v_id is null then
    select id into v_id from organizations where slug = p_org;
  end if;
  if v_id is null then
    perform tenancy_not_found('organization', p_org);
  end if;
  return v_id;
end
$$;

comment on function public.tenancy_org_id(text) is
  'The id of the organisation whose id (as text) or slug is p_org; 404 when there is none.';

create function public.tenancy_check_changes(p_changes jsonb, p_allowed text[]) returns void
language plpgsql
immutable
set search_path = public
as $$
declare
  v_unknown text;
begin
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' then
    raise exception using errcode = '22023', message = 'p_changes must be a JSON object';
  end if;
  select key into v_unknown
    from jsonb_object_keys(p_changes) as key
    where key <> all (p_allowed)
    order by key
    limit 1;
  if v_unknown is not null then
    raise exception using
      errcode = '22023',
      message = format('unknown field in p_changes: %s', v_unknown),
      hint = format('allowed fields: %s', array_to_string(p_allowed, ', '));
  end if;
end
$$;

comment on function public.tenancy_check_changes(jsonb, text[]) is
  'Raises 22023 unless p_changes is a JSON object whose keys are all in p_allowed.';

-- ---------------------------------------------------------------------------------------------
-- The gateway's read
-- ---------------------------------------------------------------------------------------------

create function public.gateway_resolve_key(p_key_hash text) returns jsonb
language sql
stable
set search_path = public
as $$
  select jsonb_build_object(
    'key', jsonb_build_object(
      'id', k.id,
      'name', k.name,
      'mode', k.mode,
      'rpm_limit', k.rpm_limit
    ),
    'org', jsonb_build_object(
      'id', o.id,
      'slug', o.slug,
      'name', o.name,
      'plan', o.plan,
      'subscription_status', o.subscription_status,
      'monthly_request_limit', o.monthly_request_limit,
      'rpm_limit', o.rpm_limit,
      'features', o.features
    ),
    'provider_keys', coalesce(
      (
        select jsonb_agg(
          jsonb_build_object('provider', p.provider, 'envelope', p.envelope)
          order by p.provider
        )
        from provider_keys p
        where p.org_id = o.id
      ),
      '[]'
    ),
    'routing_rules', coalesce(
      (
        select jsonb_agg(
          jsonb_build_object(
            'api_key_id', r.api_key_id,
            'model', r.model,
            'strategy', r.strategy,
            'targets', r.targets
          )
          -- the key's own rules first, then the organisation's; model-specific before any-model
          order by r.api_key_id is null, r.model is null, r.model
        )
        from routing_rules r
        where r.org_id = o.id and (r.api_key_id is null or r.api_key_id = k.id)
      ),
      '[]'
    )
  )
  from api_keys k
  join organizations o on o.id = k.org_id
  where k.key_hash = p_key_hash and k.revoked_at is null
$$;

comment on function public.gateway_resolve_key(text) is
  'Everything the gateway needs about an API key, by the SHA-256 of the key, in one round trip: '
  '{key, org, provider_keys, routing_rules}; null for an unknown or revoked key.';

-- ---------------------------------------------------------------------------------------------
-- Admin: organisations
-- ---------------------------------------------------------------------------------------------

create function public.admin_create_org(
  p_slug text,
  p_name text default null,
  p_plan text default 'free',
  p_subscription_status text default 'active',
  p_monthly_request_limit integer default null,
  p_rpm_limit integer default null,
  p_features jsonb default '{}'
) returns jsonb
language sql
set search_path = public
as $$
  insert into organizations (
    slug, name, plan, subscription_status, monthly_request_limit, rpm_limit, features
  )
  values (
    p_slug,
    coalesce(p_name, p_slug),
    coalesce(p_plan, 'free'),
    coalesce(p_subscription_status, 'active'),
    p_monthly_request_limit,
    p_rpm_limit,
    coalesce(p_features, '{}')
  )
  returning to_jsonb(organizations.*)
$$;

comment on function public.admin_create_org(text, text, text, text, integer, integer, jsonb) is
  'Creates an organisation (name defaults to the slug); returns its row.';

create function public.admin_update_org(p_org text, p_changes jsonb) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_id uuid := tenancy_org_id(p_org);
  v_features jsonb := p_changes -> 'features';
  v_row organizations;
begin
  perform tenancy_check_changes(
    p_changes,
    array['name', 'plan', 'subscription_status', 'monthly_request_limit', 'rpm_limit', 'features']
  );
  if v_features is not null and jsonb_typeof(v_features) <> 'object' then
    raise exception using errcode = '22023', message = 'p_changes.features must be a JSON object';
  end if;
  update organizations set
    name = case when p_changes ? 'name' then p_changes ->> 'name' else name end,
    plan = case when p_changes ? 'plan' then p_changes ->> 'plan' else plan end,
    subscription_status = case
      when p_changes ? 'subscription_status' then p_changes ->> 'subscription_status'
      else subscription_status
    end,
    monthly_request_limit = case
      when p_changes ? 'monthly_request_limit' then (p_changes ->> 'monthly_request_limit')::integer
      else monthly_request_limit
    end,
    rpm_limit = case
      when p_changes ? 'rpm_limit' then (p_changes ->> 'rpm_limit')::integer
      else rpm_limit
    end,
    -- merged flag by flag; a flag set to JSON null is removed
    features = case
      when v_features is null then features
      else (features || v_features) - array(
        select key from jsonb_each(v_features) where value = 'null'::jsonb
      )
    end
  where id = v_id
  returning * into v_row;
  return to_jsonb(v_row);
end
$$;

comment on function public.admin_update_org(text, jsonb) is
  'Updates name, plan, subscription_status, monthly_request_limit, rpm_limit (null: unlimited) '
  'and features (merged; a null flag is removed); returns the row.';

create function public.admin_list_orgs() returns jsonb
language sql
stable
set search_path = public
as $$
  select coalesce(jsonb_agg(to_jsonb(o) order by o.created_at, o.slug), '[]')
  from organizations o
$$;

comment on function public.admin_list_orgs() is 'Every organisation, oldest first.';

create function public.admin_get_org(p_org text) returns jsonb
language plpgsql
stable
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  return (
    select to_jsonb(o) || jsonb_build_object(
      'key_count',
      (select count(*) from api_keys k where k.org_id = o.id and k.revoked_at is null)
    )
    from organizations o
    where o.id = v_org
  );
end
$$;

comment on function public.admin_get_org(text) is
  'One organisation''s row plus key_count, its number of active API keys.';

-- ---------------------------------------------------------------------------------------------
-- Admin: API keys (rows are returned without key_hash)
-- ---------------------------------------------------------------------------------------------

create function public.admin_create_api_key(
  p_org text,
  p_key_hash text,
  p_display_prefix text,
  p_last4 text,
  p_mode text,
  p_name text default '',
  p_rpm_limit integer default null
) returns jsonb
language sql
set search_path = public
as $$
  insert into api_keys (org_id, key_hash, display_prefix, last4, mode, name, rpm_limit)
  values (
    tenancy_org_id(p_org),
    p_key_hash,
    p_display_prefix,
    p_last4,
    p_mode,
    coalesce(p_name, ''),
    p_rpm_limit
  )
  returning to_jsonb(api_keys.*) - 'key_hash'
$$;

comment on function public.admin_create_api_key(text, text, text, text, text, text, integer) is
  'Stores a new API key by its hash; returns the row without key_hash.';

create function public.admin_list_api_keys(p_org text) returns jsonb
language plpgsql
stable
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  return (
    select coalesce(jsonb_agg(to_jsonb(k) - 'key_hash' order by k.created_at, k.id), '[]')
    from api_keys k
    where k.org_id = v_org
  );
end
$$;

comment on function public.admin_list_api_keys(text) is
  'An organisation''s API keys, revoked ones included, oldest first, without key_hash.';

create function public.admin_update_api_key(p_key_id uuid, p_changes jsonb) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_row api_keys;
begin
  perform tenancy_check_changes(p_changes, array['name', 'rpm_limit']);
  update api_keys set
    name = case when p_changes ? 'name' then p_changes ->> 'name' else name end,
    rpm_limit = case
      when p_changes ? 'rpm_limit' then (p_changes ->> 'rpm_limit')::integer
      else rpm_limit
    end
  where id = p_key_id
  returning * into v_row;
  if not found then
    perform tenancy_not_found('api key', p_key_id::text);
  end if;
  return to_jsonb(v_row) - 'key_hash';
end
$$;

comment on function public.admin_update_api_key(uuid, jsonb) is
  'Updates a key''s name and rpm_limit (null: no per-key limit); returns it without key_hash.';

create function public.admin_revoke_api_key(p_key_id uuid) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_result jsonb;
begin
  update api_keys set revoked_at = coalesce(revoked_at, now())
  where id = p_key_id
  returning jsonb_build_object(
    'id', id, 'org_id', org_id, 'key_hash', key_hash, 'revoked_at', revoked_at
  )
  into v_result;
  if v_result is null then
    perform tenancy_not_found('api key', p_key_id::text);
  end if;
  return v_result;
end
$$;

comment on function public.admin_revoke_api_key(uuid) is
  'Revokes a key (a second call keeps the first revoked_at); returns {id, org_id, key_hash, '
  'revoked_at} so the caller can evict the hash from its cache.';

-- ---------------------------------------------------------------------------------------------
-- Admin: provider keys
-- ---------------------------------------------------------------------------------------------

create function public.admin_put_provider_key(p_org text, p_provider text, p_envelope text)
returns jsonb
language sql
set search_path = public
as $$
  insert into provider_keys (org_id, provider, envelope)
  values (tenancy_org_id(p_org), p_provider, p_envelope)
  on conflict (org_id, provider) do update set envelope = excluded.envelope
  returning to_jsonb(provider_keys.*) - 'envelope'
$$;

comment on function public.admin_put_provider_key(text, text, text) is
  'Stores or replaces an organisation''s sealed key for a provider; returns the row without '
  'the envelope.';

create function public.admin_list_provider_keys(p_org text default null) returns jsonb
language plpgsql
stable
set search_path = public
as $$
declare
  v_org uuid := case when p_org is null then null else tenancy_org_id(p_org) end;
begin
  return (
    select coalesce(jsonb_agg(to_jsonb(p) order by p.created_at, p.id), '[]')
    from provider_keys p
    where v_org is null or p.org_id = v_org
  );
end
$$;

comment on function public.admin_list_provider_keys(text) is
  'Provider keys with their envelopes, of one organisation or (p_org null) of all: what key '
  'rotation reads.';

create function public.admin_rewrap_provider_key(
  p_id uuid,
  p_old_envelope text,
  p_new_envelope text
) returns jsonb
language plpgsql
set search_path = public
as $$
begin
  update provider_keys set envelope = p_new_envelope
  where id = p_id and envelope = p_old_envelope;
  return jsonb_build_object('updated', found);
end
$$;

comment on function public.admin_rewrap_provider_key(uuid, text, text) is
  'Compare-and-set: replaces the envelope only if it still equals p_old_envelope; '
  'returns {"updated": true|false}.';

create function public.admin_delete_provider_key(p_org text, p_provider text) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  delete from provider_keys where org_id = v_org and provider = p_provider;
  return jsonb_build_object('deleted', found);
end
$$;

comment on function public.admin_delete_provider_key(text, text) is
  'Deletes an organisation''s key for a provider; returns {"deleted": true|false}.';

-- ---------------------------------------------------------------------------------------------
-- Admin: routing rules
-- ---------------------------------------------------------------------------------------------

create function public.admin_set_routing_rule(
  p_org text,
  p_strategy text,
  p_targets jsonb,
  p_api_key_id uuid default null,
  p_model text default null
) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
  v_row routing_rules;
begin
  if p_api_key_id is not null and not exists (select from api_keys where id = p_api_key_id) then
    perform tenancy_not_found('api key', p_api_key_id::text);
  end if;
  -- a key of another organisation fails routing_rules_api_key_same_org_fkey (23503)
  insert into routing_rules (org_id, api_key_id, model, strategy, targets)
  values (v_org, p_api_key_id, p_model, p_strategy, p_targets)
  on conflict (org_id, (coalesce(api_key_id::text, '')), (coalesce(model, ''))) do update set
    strategy = excluded.strategy,
    targets = excluded.targets
  returning * into v_row;
  return to_jsonb(v_row);
end
$$;

comment on function public.admin_set_routing_rule(text, text, jsonb, uuid, text) is
  'Creates or replaces the rule for (organisation, key or none, model or none); returns it.';

create function public.admin_list_routing_rules(p_org text) returns jsonb
language plpgsql
stable
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  return (
    select coalesce(jsonb_agg(to_jsonb(r) order by r.created_at, r.id), '[]')
    from routing_rules r
    where r.org_id = v_org
  );
end
$$;

comment on function public.admin_list_routing_rules(text) is
  'An organisation''s routing rules (its own and its keys''), oldest first.';

create function public.admin_delete_routing_rule(
  p_org text,
  p_api_key_id uuid default null,
  p_model text default null
) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  delete from routing_rules
  where org_id = v_org
    and api_key_id is not distinct from p_api_key_id
    and model is not distinct from p_model;
  return jsonb_build_object('deleted', found);
end
$$;

comment on function public.admin_delete_routing_rule(text, uuid, text) is
  'Deletes the rule for (organisation, key or none, model or none); returns '
  '{"deleted": true|false}.';

-- ---------------------------------------------------------------------------------------------
-- Privileges: service_role only
-- ---------------------------------------------------------------------------------------------

alter table public.organizations enable row level security;
alter table public.api_keys enable row level security;
alter table public.provider_keys enable row level security;
alter table public.routing_rules enable row level security;

revoke all on table
  public.organizations, public.api_keys, public.provider_keys, public.routing_rules
  from public, anon, authenticated;
grant select, insert, update, delete on table
  public.organizations, public.api_keys, public.provider_keys, public.routing_rules
  to service_role;

revoke all on function
  public.tenancy_touch_updated_at(),
  public.tenancy_not_found(text, text),
  public.tenancy_org_id(text),
  public.tenancy_check_changes(jsonb, text[]),
  public.gateway_resolve_key(text),
  public.admin_create_org(text, text, text, text, integer, integer, jsonb),
  public.admin_update_org(text, jsonb),
  public.admin_list_orgs(),
  public.admin_get_org(text),
  public.admin_create_api_key(text, text, text, text, text, text, integer),
  public.admin_list_api_keys(text),
  public.admin_update_api_key(uuid, jsonb),
  public.admin_revoke_api_key(uuid),
  public.admin_put_provider_key(text, text, text),
  public.admin_list_provider_keys(text),
  public.admin_rewrap_provider_key(uuid, text, text),
  public.admin_delete_provider_key(text, text),
  public.admin_set_routing_rule(text, text, jsonb, uuid, text),
  public.admin_list_routing_rules(text),
  public.admin_delete_routing_rule(text, uuid, text)
  from public, anon, authenticated;

grant execute on function
  public.tenancy_touch_updated_at(),
  public.tenancy_not_found(text, text),
  public.tenancy_org_id(text),
  public.tenancy_check_changes(jsonb, text[]),
  public.gateway_resolve_key(text),
  public.admin_create_org(text, text, text, text, integer, integer, jsonb),
  public.admin_update_org(text, jsonb),
  public.admin_list_orgs(),
  public.admin_get_org(text),
  public.admin_create_api_key(text, text, text, text, text, text, integer),
  public.admin_list_api_keys(text),
  public.admin_update_api_key(uuid, jsonb),
  public.admin_revoke_api_key(uuid),
  public.admin_put_provider_key(text, text, text),
  public.admin_list_provider_keys(text),
  public.admin_rewrap_provider_key(uuid, text, text),
  public.admin_delete_provider_key(text, text),
  public.admin_set_routing_rule(text, text, jsonb, uuid, text),
  public.admin_list_routing_rules(text),
  public.admin_delete_routing_rule(text, uuid, text)
  to service_role;
