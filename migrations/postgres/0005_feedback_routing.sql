-- @module Feedback routing: a fifth routing strategy, `feedback`, which orders a rule's targets by
-- Thompson sampling on the rewards their answers earned in feedback (docs/routing.md), a rule's
-- parameters for it, and an organisation's feedback metrics.
--
-- Changes
--   * `routing_rules.strategy` also accepts 'feedback' (`ROUTING_STRATEGIES` in
--     src/tenancy/schema.ts).
--   * `routing_rules.params`, jsonb, not null, default `{}`:
--     `{"cost_weight"?: number >= 0, "latency_weight"?: number >= 0, "metric"?: "<name>"}`, the
--     shape the gateway parses (`RuleParamsSchema`). Like `targets`, the check holds the members the
--     gateway reads to its types and lets any other member through (the gateway ignores it).
--     Only the `feedback` strategy reads them; any rule may carry them.
--   * Settings (`tenancy_settings_valid`, 0004) also accept
--     `{"feedback": {"metrics"?: {"<name>": {"min": number, "max": number > min}}}}`: the
--     organisation's feedback metrics and the range each value is mapped from onto a reward in
--     [0, 1]. The check still accepts exactly what `SettingsSchema` accepts and keeps; the merge
--     (`tenancy_merge_settings`) needs no change: `{"feedback": {"metrics": {"helpful": null}}}`
--     removes one metric.
--   * `gateway_resolve_key` returns each rule's `params`.
--   * `admin_set_routing_rule` takes `p_params` (default `{}`), replacing the stored parameters
--     with the rule; the list and set functions return the column with the rest of the row.
--
-- A name (a metric's, or a rule's `metric`) is `^[a-z][a-z0-9_]{0,31}$`. A number must be finite
-- once JavaScript parses it (at most 1.7976931348623157e308 in magnitude): a larger one would be
-- Infinity to the gateway, which refuses it.
--
-- Access model and errors as in 0001_tenancy.sql: `service_role` only; a malformed value fails its
-- check (23514, HTTP 400).
--
-- Runs after 0004_settings.sql, in one transaction. Existing rules get `{}` (no parameters).

-- ---------------------------------------------------------------------------------------------
-- Routing rules: the strategy and the parameters
-- ---------------------------------------------------------------------------------------------

-- One statement: there is no moment without a check on strategy.
alter table public.routing_rules
  drop constraint routing_rules_strategy_check,
  add constraint routing_rules_strategy_check check (
    strategy in ('fallback', 'round-robin', 'weighted', 'latency', 'feedback')
  );

alter table public.routing_rules
  add column params jsonb not null default '{}'
    -- lax: a missing member is an empty sequence (so the filter is false), not an error; type()
    -- does not unwrap arrays in lax mode, so [0.5] is not taken for 0.5
    constraint routing_rules_params_check check (
      jsonb_typeof(params) = 'object'
      and not jsonb_path_exists(
        params,
        'lax $ ? ((exists(@.cost_weight) && !(@.cost_weight.type() == "number"
            && @.cost_weight >= 0 && @.cost_weight <= 1.7976931348623157e308))
          || (exists(@.latency_weight) && !(@.latency_weight.type() == "number"
            && @.latency_weight >= 0 && @.latency_weight <= 1.7976931348623157e308))
          || (exists(@.metric) && !(@.metric.type() == "string"
            && @.metric like_regex "^[a-z][a-z0-9_]{0,31}$")))'
      )
    );

comment on constraint routing_rules_params_check on public.routing_rules is
  'An object; "cost_weight" and "latency_weight", when present, numbers >= 0; "metric", when '
  'present, a name ^[a-z][a-z0-9_]{0,31}$.';

comment on column public.routing_rules.params is
  'The feedback strategy''s parameters, e.g. {"cost_weight": 0.02, "latency_weight": 0.1, '
  '"metric": "helpful"}: reward points a target loses per USD of its price per million tokens '
  '(input and output averaged) and per second of its average latency, and the feedback metric '
  'learnt from (absent: rating). {} when none is set.';

-- ---------------------------------------------------------------------------------------------
-- The settings check
-- ---------------------------------------------------------------------------------------------

create or replace function public.tenancy_settings_valid(p_settings jsonb) returns boolean
language plpgsql
immutable
set search_path = public
as $$
declare
  v_cache jsonb;
  v_feedback jsonb;
  v_metrics jsonb;
  v_range record;
  v_value jsonb;
begin
  -- Each step guards the next: jsonb_object_keys raises on a non-object, the casts on a non-number.
  if jsonb_typeof(p_settings) is distinct from 'object' then
    return false;
  end if;
  if exists (
    select from jsonb_object_keys(p_settings) as key where key not in ('cache', 'feedback')
  ) then
    return false;
  end if;
  if p_settings ? 'cache' then
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
  end if;
  if p_settings ? 'feedback' then
    v_feedback := p_settings -> 'feedback';
    if jsonb_typeof(v_feedback) <> 'object' then
      return false;
    end if;
    if exists (select from jsonb_object_keys(v_feedback) as key where key <> 'metrics') then
      return false;
    end if;
    if v_feedback ? 'metrics' then
      v_metrics := v_feedback -> 'metrics';
      if jsonb_typeof(v_metrics) <> 'object' then
        return false;
      end if;
      -- MetricRangeSchema: exactly {min, max}, both finite numbers, max above min
      for v_range in select key, value from jsonb_each(v_metrics) loop
        if v_range.key !~ '^[a-z][a-z0-9_]{0,31}$' then
          return false;
        end if;
        if jsonb_typeof(v_range.value) <> 'object' then
          return false;
        end if;
        if exists (
          select from jsonb_object_keys(v_range.value) as key where key not in ('min', 'max')
        ) then
          return false;
        end if;
        if jsonb_typeof(v_range.value -> 'min') is distinct from 'number'
          or jsonb_typeof(v_range.value -> 'max') is distinct from 'number' then
          return false;
        end if;
        if abs((v_range.value ->> 'min')::numeric) > 1.7976931348623157e308
          or abs((v_range.value ->> 'max')::numeric) > 1.7976931348623157e308 then
          return false;
        end if;
        if (v_range.value ->> 'max')::numeric <= (v_range.value ->> 'min')::numeric then
          return false;
        end if;
      end loop;
    end if;
  end if;
  return true;
end
$$;

comment on function public.tenancy_settings_valid(jsonb) is
  'True for {"cache"?: {"enabled"?: boolean, "ttl_seconds"?: whole number 60-2592000, '
  '"threshold"?: number in (0, 1]}, "feedback"?: {"metrics"?: {"<name>": {"min": number, '
  '"max": number > min}}}} and nothing else: what SettingsSchema (src/tenancy/schema.ts) '
  'accepts and keeps.';

comment on column public.organizations.settings is
  'The organisation''s settings, e.g. {"cache": {"enabled": true, "ttl_seconds": 3600, '
  '"threshold": 0.95}, "feedback": {"metrics": {"helpful": {"min": 1, "max": 5}}}}; a field not '
  'set takes the gateway''s default.';

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
            'targets', r.targets,
            'params', r.params
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
  '{key, org, provider_keys, routing_rules}, key and org each with their settings, each rule '
  'with its params; null for an unknown or revoked key.';

-- ---------------------------------------------------------------------------------------------
-- Admin: routing rules
-- ---------------------------------------------------------------------------------------------

-- A new parameter is a new signature: the old function goes, so no call can reach it by mistake.
drop function public.admin_set_routing_rule(text, text, jsonb, uuid, text);

create function public.admin_set_routing_rule(
  p_org text,
  p_strategy text,
  p_targets jsonb,
  p_api_key_id uuid default null,
  p_model text default null,
  p_params jsonb default '{}'
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
  insert into routing_rules (org_id, api_key_id, model, strategy, targets, params)
  values (v_org, p_api_key_id, p_model, p_strategy, p_targets, coalesce(p_params, '{}'))
  on conflict (org_id, (coalesce(api_key_id::text, '')), (coalesce(model, ''))) do update set
    strategy = excluded.strategy,
    targets = excluded.targets,
    -- replaced with the rule, never merged: parameters not given are gone
    params = excluded.params
  returning * into v_row;
  return to_jsonb(v_row);
end
$$;

comment on function public.admin_set_routing_rule(text, text, jsonb, uuid, text, jsonb) is
  'Creates or replaces the rule for (organisation, key or none, model or none), its params '
  'included (default {}); returns it.';

-- ---------------------------------------------------------------------------------------------
-- Privileges: service_role only
-- ---------------------------------------------------------------------------------------------

revoke all on function public.admin_set_routing_rule(text, text, jsonb, uuid, text, jsonb)
  from public, anon, authenticated;

grant execute on function public.admin_set_routing_rule(text, text, jsonb, uuid, text, jsonb)
  to service_role;
