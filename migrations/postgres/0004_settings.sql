-- @module Settings: an organisation's and a key's own settings, today the response cache's
-- (`{"cache": {"enabled"?: boolean, "ttl_seconds"?: 60-2592000, "threshold"?: (0, 1]}}`), as a
-- jsonb `settings` column on organizations and on api_keys. A key's settings override its
-- organisation's field by field; a field set nowhere takes the gateway's default. The shape is
-- `SettingsSchema` in src/tenancy/schema.ts, and the check below (`tenancy_settings_valid`)
-- accepts exactly what that schema keeps, so a stored value can never break its organisation's
-- requests.
--
-- Functions
--   * `gateway_resolve_key` also returns `key.settings` and `org.settings`.
--   * `admin_create_org` and `admin_create_api_key` take `p_settings` (default `{}`); the get and
--     list functions return the column with the rest of the row.
--   * `admin_update_org` and `admin_update_api_key` take `settings` in `p_changes`, merged into the
--     stored value member by member as `features` are: `{"cache": {"ttl_seconds": 3600}}` changes
--     only the TTL, a member set to JSON null is removed (`{"cache": {"threshold": null}}`), and a
--     `cache` left empty is removed too.
--
-- Access model and errors as in 0001_tenancy.sql: `service_role` only; a malformed value fails the
-- settings check (23514, HTTP 400); a `p_changes.settings` that is not an object raises 22023.
--
-- Runs after 0003_prompts.sql, in one transaction. Existing rows get `{}` (no settings).

-- ---------------------------------------------------------------------------------------------
-- The settings check and merge
-- ---------------------------------------------------------------------------------------------

create function public.tenancy_settings_valid(p_settings jsonb) returns boolean
language plpgsql
immutable
set search_path = public
as $$
declare
  v_cache jsonb;
  v_value jsonb;
begin
  -- Each step guards the next: jsonb_object_keys raises on a non-object, the casts on a non-number.
  if jsonb_typeof(p_settings) is distinct from 'object' then
    return false;
  end if;
  if exists (select from jsonb_object_keys(p_settings) as key where key <> 'cache') then
    return false;
  end if;
  if not p_settings ? 'cache' then
    return true;
  end if;
  v_cache := p_settings -> 'cache';
  if jsonb_typeof(v_cache) <> 'object' then
    return false;
  end if;
  if exists (
    select from jsonb_object_keys(v_cache) as key
    where key not in ('enabled', 'ttl_seconds', 'threshold')
  ) then
    return false;
  end if;
  if v_cache ? 'enabled' and jsonb_typeof(v_cache -> 'enabled') <> 'boolean' then
    return false;
  end if;
  -- Separate IFs, not OR: SQL does not promise to evaluate the type test before the cast.
  if v_cache ? 'ttl_seconds' then
    v_value := v_cache -> 'ttl_seconds';
    if jsonb_typeof(v_value) <> 'number' then
      return false;
    end if;
    -- CACHE_TTL_SECONDS in src/tenancy/schema.ts; 60.0 is the whole number 60, as in JavaScript
    if v_value::numeric <> trunc(v_value::numeric)
      or v_value::numeric not between 60 and 2592000 then
      return false;
    end if;
  end if;
  if v_cache ? 'threshold' then
    v_value := v_cache -> 'threshold';
    if jsonb_typeof(v_value) <> 'number' then
      return false;
    end if;
    if v_value::numeric <= 0 or v_value::numeric > 1 then
      return false;
    end if;
  end if;
  return true;
end
$$;

comment on function public.tenancy_settings_valid(jsonb) is
  'True for {"cache"?: {"enabled"?: boolean, "ttl_seconds"?: whole number 60-2592000, '
  '"threshold"?: number in (0, 1]}} and nothing else: what SettingsSchema '
  '(src/tenancy/schema.ts) accepts and keeps.';

create function public.tenancy_merge_settings(p_settings jsonb, p_changes jsonb) returns jsonb
language plpgsql
immutable
set search_path = public
as $$
begin
  return (
    select coalesce(jsonb_object_agg(merged.key, merged.value), '{}')
    from (
      select
        key,
        case
          -- an object merges into the stored one (or into nothing), member by member
          when jsonb_typeof(c.value) = 'object' then tenancy_merge_settings(
            case when jsonb_typeof(s.value) = 'object' then s.value else '{}' end,
            c.value
          )
          -- not among the changes: kept as stored
          when c.value is null then s.value
          -- a value replaces the stored one; JSON null is dropped below
          else c.value
        end as value
      from jsonb_each(p_settings) as s
      full join jsonb_each(p_changes) as c using (key)
    ) as merged
    where merged.value <> 'null'::jsonb and merged.value <> '{}'::jsonb
  );
end
$$;

comment on function public.tenancy_merge_settings(jsonb, jsonb) is
  'p_settings with p_changes merged in, member by member at every level: a JSON null removes the '
  'member, and an object left empty is removed.';

-- ---------------------------------------------------------------------------------------------
-- Columns
-- ---------------------------------------------------------------------------------------------

alter table public.organizations
  add column settings jsonb not null default '{}'
    constraint organizations_settings_check check (public.tenancy_settings_valid(settings));

alter table public.api_keys
  add column settings jsonb not null default '{}'
    constraint api_keys_settings_check check (public.tenancy_settings_valid(settings));

comment on column public.organizations.settings is
  'The organisation''s settings, e.g. {"cache": {"enabled": true, "ttl_seconds": 3600, '
  '"threshold": 0.95}}; a field not set takes the gateway''s default.';
comment on column public.api_keys.settings is
  'The key''s own settings, the same shape as organizations.settings; each field set here '
  'overrides the organisation''s.';

-- ---------------------------------------------------------------------------------------------
-- The gateway's read
-- ---------------------------------------------------------------------------------------------

create or replace function public.gateway_resolve_key(p_key_hash text) returns jsonb
language sql
stable
set search_path = public
as $$
  select jsonb_build_object(
    'key', jsonb_build_object(
      'id', k.id,
      'name', k.name,
      'mode', k.mode,
      'rpm_limit', k.rpm_limit,
      'settings', k.settings
    ),
    'org', jsonb_build_object(
      'id', o.id,
      'slug', o.slug,
      'name', o.name,
      'plan', o.plan,
      'subscription_status', o.subscription_status,
      'monthly_request_limit', o.monthly_request_limit,
      'rpm_limit', o.rpm_limit,
      'features', o.features,
      'settings', o.settings
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
  '{key, org, provider_keys, routing_rules}, key and org each with their settings; null for an '
  'unknown or revoked key.';

-- ---------------------------------------------------------------------------------------------
-- Admin: organisations
-- ---------------------------------------------------------------------------------------------

-- A new parameter is a new signature: the old function goes, so no call can reach it by mistake.
drop function public.admin_create_org(text, text, text, text, integer, integer, jsonb);

create function public.admin_create_org(
  p_slug text,
  p_name text default null,
  p_plan text default 'free',
  p_subscription_status text default 'active',
  p_monthly_request_limit integer default null,
  p_rpm_limit integer default null,
  p_features jsonb default '{}',
  p_settings jsonb default '{}'
) returns jsonb
language sql
set search_path = public
as $$
  insert into organizations (
    slug, name, plan, subscription_status, monthly_request_limit, rpm_limit, features, settings
  )
  values (
    p_slug,
    coalesce(p_name, p_slug),
    coalesce(p_plan, 'free'),
    coalesce(p_subscription_status, 'active'),
    p_monthly_request_limit,
    p_rpm_limit,
    coalesce(p_features, '{}'),
    coalesce(p_settings, '{}')
  )
  returning to_jsonb(organizations.*)
$$;

comment on function public.admin_create_org(text, text, text, text, integer, integer, jsonb, jsonb)
  is 'Creates an organisation (name defaults to the slug); returns its row.';

create or replace function public.admin_update_org(p_org text, p_changes jsonb) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_id uuid := tenancy_org_id(p_org);
  v_features jsonb := p_changes -> 'features';
  v_settings jsonb := p_changes -> 'settings';
  v_row organizations;
begin
  perform tenancy_check_changes(
    p_changes,
    array[
      'name', 'plan', 'subscription_status', 'monthly_request_limit', 'rpm_limit', 'features',
      'settings'
    ]
  );
  if v_features is not null and jsonb_typeof(v_features) <> 'object' then
    raise exception using errcode = '22023', message = 'p_changes.features must be a JSON object';
  end if;
  if v_settings is not null and jsonb_typeof(v_settings) <> 'object' then
    raise exception using errcode = '22023', message = 'p_changes.settings must be a JSON object';
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
    end,
    -- merged member by member; a member set to JSON null is removed
    settings = case
      when v_settings is null then settings
      else tenancy_merge_settings(settings, v_settings)
    end
  where id = v_id
  returning * into v_row;
  return to_jsonb(v_row);
end
$$;

comment on function public.admin_update_org(text, jsonb) is
  'Updates name, plan, subscription_status, monthly_request_limit, rpm_limit (null: unlimited), '
  'features (merged; a null flag is removed) and settings (merged member by member; a null '
  'member is removed); returns the row.';

-- ---------------------------------------------------------------------------------------------
-- Admin: API keys
-- ---------------------------------------------------------------------------------------------

drop function public.admin_create_api_key(text, text, text, text, text, text, integer);

create function public.admin_create_api_key(
  p_org text,
  p_key_hash text,
  p_display_prefix text,
  p_last4 text,
  p_mode text,
  p_name text default '',
  p_rpm_limit integer default null,
  p_settings jsonb default '{}'
) returns jsonb
language sql
set search_path = public
as $$
  insert into api_keys (org_id, key_hash, display_prefix, last4, mode, name, rpm_limit, settings)
  values (
    tenancy_org_id(p_org),
    p_key_hash,
    p_display_prefix,
    p_last4,
    p_mode,
    coalesce(p_name, ''),
    p_rpm_limit,
    coalesce(p_settings, '{}')
  )
  returning to_jsonb(api_keys.*) - 'key_hash'
$$;

comment on function public.admin_create_api_key(text, text, text, text, text, text, integer, jsonb)
  is 'Stores a new API key by its hash; returns the row without key_hash.';

create or replace function public.admin_update_api_key(p_key_id uuid, p_changes jsonb)
returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_settings jsonb := p_changes -> 'settings';
  v_row api_keys;
begin
  perform tenancy_check_changes(p_changes, array['name', 'rpm_limit', 'settings']);
  if v_settings is not null and jsonb_typeof(v_settings) <> 'object' then
    raise exception using errcode = '22023', message = 'p_changes.settings must be a JSON object';
  end if;
  update api_keys set
    name = case when p_changes ? 'name' then p_changes ->> 'name' else name end,
    rpm_limit = case
      when p_changes ? 'rpm_limit' then (p_changes ->> 'rpm_limit')::integer
      else rpm_limit
    end,
    -- merged member by member; a member set to JSON null is removed (the organisation's applies)
    settings = case
      when v_settings is null then settings
      else tenancy_merge_settings(settings, v_settings)
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
  'Updates a key''s name, rpm_limit (null: no per-key limit) and settings (merged member by '
  'member; a null member is removed, so the organisation''s applies); returns it without '
  'key_hash.';

-- ---------------------------------------------------------------------------------------------
-- Privileges: service_role only
-- ---------------------------------------------------------------------------------------------

revoke all on function
  public.tenancy_settings_valid(jsonb),
  public.tenancy_merge_settings(jsonb, jsonb),
  public.admin_create_org(text, text, text, text, integer, integer, jsonb, jsonb),
  public.admin_create_api_key(text, text, text, text, text, text, integer, jsonb)
  from public, anon, authenticated;

grant execute on function
  public.tenancy_settings_valid(jsonb),
  public.tenancy_merge_settings(jsonb, jsonb),
  public.admin_create_org(text, text, text, text, integer, integer, jsonb, jsonb),
  public.admin_create_api_key(text, text, text, text, text, text, integer, jsonb)
  to service_role;
