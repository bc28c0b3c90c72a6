-- @module Prompts: an organisation's versioned prompt templates, which a request names with the
-- `floopy-prompt-id` header (and optionally `floopy-prompt-version`: a version number or a label)
-- and fills from its body's `inputs`. See docs/prompts.md for the request side.
--
-- Model
--   * `prompts`: one row per (organisation, prompt id), with its labels: a JSON object
--     label → version number (`{"production": 3, "staging": 4}`). A label moves; it can only
--     point at a version the prompt has (trigger `prompts_check_labels`).
--   * `prompt_versions`: the templates, immutable, numbered 1, 2, … per prompt with no gap and no
--     duplicate (trigger `prompt_versions_guard`). `admin_create_prompt_version` locks the prompt's
--     row before it numbers a version, so concurrent creations queue instead of colliding.
--   * A template is `{"messages": [...], "model"?: "...", "params"?: {...}}`, checked by
--     `prompt_template_valid` against the shape the gateway parses (`PromptTemplateSchema` in
--     src/prompts/template.ts), so a stored version can never break its organisation's requests.
--
-- Selecting a version (`prompt_select_version`, the same rule as `selectVersion` in
-- src/prompts/template.ts): no selector → the version labelled `production` if that label exists,
-- else the latest; all digits → that version number; anything else → that label's version.
-- A label is never all digits (it could not be selected), else it follows the prompt id pattern.
--
-- Access model and errors as in 0001_tenancy.sql: row level security on with no policies,
-- SECURITY INVOKER functions executable by `service_role` only; an unknown organisation, prompt
-- or version is HTTP 404 with code P0002 (`tenancy_not_found`); bad values fail their CHECK
-- (23514, HTTP 400).
--
-- Runs after 0002_routing_target_key.sql, in one transaction.

-- ---------------------------------------------------------------------------------------------
-- The template check
-- ---------------------------------------------------------------------------------------------

create function public.prompt_template_valid(p_template jsonb) returns boolean
language plpgsql
immutable
set search_path = public
as $$
declare
  v_message jsonb;
begin
  -- Each step guards the next: jsonb_array_length and jsonb_array_elements raise on a non-array.
  if jsonb_typeof(p_template) is distinct from 'object' then
    return false;
  end if;
  if exists (
    select from jsonb_object_keys(p_template) as key
    where key not in ('messages', 'model', 'params')
  ) then
    return false;
  end if;
  if p_template ? 'model'
    and (jsonb_typeof(p_template -> 'model') <> 'string' or p_template ->> 'model' = '') then
    return false;
  end if;
  if p_template ? 'params' then
    if jsonb_typeof(p_template -> 'params') <> 'object' then
      return false;
    end if;
    -- the gateway or the request decides these
    if p_template -> 'params' ?| array['messages', 'model', 'stream', 'stream_options', 'inputs']
    then
      return false;
    end if;
  end if;
  if jsonb_typeof(p_template -> 'messages') is distinct from 'array' then
    return false;
  end if;
  if jsonb_array_length(p_template -> 'messages') = 0 then
    return false;
  end if;
  for v_message in select jsonb_array_elements(p_template -> 'messages') loop
    if jsonb_typeof(v_message) <> 'object' then
      return false;
    end if;
    if jsonb_typeof(v_message -> 'role') is distinct from 'string'
      or v_message ->> 'role' not in ('system', 'developer', 'user', 'assistant', 'tool') then
      return false;
    end if;
    if v_message ? 'content' then
      if jsonb_typeof(v_message -> 'content') = 'array' then
        -- each part an object with a string `type` (text parts carry `text`)
        if exists (
          select from jsonb_array_elements(v_message -> 'content') as part
          where jsonb_typeof(part) <> 'object'
            or jsonb_typeof(part -> 'type') is distinct from 'string'
        ) then
          return false;
        end if;
      elsif jsonb_typeof(v_message -> 'content') not in ('string', 'null') then
        return false;
      end if;
    end if;
  end loop;
  return true;
end
$$;

comment on function public.prompt_template_valid(jsonb) is
  'True for {"messages": [1+ {"role", "content"?}], "model"?: non-empty string, "params"?: '
  'object without messages/model/stream/stream_options/inputs} and nothing else: the shape '
  'PromptTemplateSchema (src/prompts/template.ts) accepts.';

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

create table public.prompts (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations on delete cascade,
  prompt_id text not null check (prompt_id ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  -- label → version: labels follow the prompt id pattern but are never all digits (a selector of
  -- digits is a version number); versions are positive integers
  labels jsonb not null default '{}' check (
    case
      when jsonb_typeof(labels) = 'object' then
        not jsonb_path_exists(
          labels,
          'strict $.keyvalue() ? (!(@.key like_regex "^[a-z0-9][a-z0-9._-]{0,127}$")
            || @.key like_regex "^[0-9]+$"
            || !(@.value.type() == "number" && @.value >= 1 && @.value <= 2147483647
              && @.value == @.value.floor()))'
        )
      else false
    end
  ),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, prompt_id)
);

comment on table public.prompts is
  'An organisation''s prompt, named by requests in floopy-prompt-id; its versions are '
  'prompt_versions.';
comment on column public.prompts.prompt_id is
  'The id requests use, unique within the organisation: 1-128 of a-z 0-9 . _ -.';
comment on column public.prompts.labels is
  'Label → version number, e.g. {"production": 3, "staging": 4}. Requests without a version '
  'get the production label''s version, else the latest.';

create table public.prompt_versions (
  prompt uuid not null references public.prompts on delete cascade,
  version integer not null check (version >= 1),
  template jsonb not null constraint prompt_versions_template_check check (
    public.prompt_template_valid(template)
  ),
  created_at timestamptz not null default now(),
  primary key (prompt, version)
);

comment on table public.prompt_versions is
  'Immutable versions of a prompt, numbered 1, 2, … with no gap; deleted only with their prompt.';
comment on column public.prompt_versions.template is
  'The template: {"messages": [...], "model"?: "...", "params"?: {...}} (src/prompts/template.ts).';

-- ---------------------------------------------------------------------------------------------
-- Integrity triggers
-- ---------------------------------------------------------------------------------------------

create trigger prompts_touch_updated_at before update on public.prompts
  for each row execute function public.tenancy_touch_updated_at();

create function public.prompts_check_labels() returns trigger
language plpgsql
set search_path = public
as $$
declare
  v_label text;
  v_version jsonb;
begin
  -- Malformed labels (not an object, values that are not whole numbers ≥ 1) are left to the
  -- labels check.
  if jsonb_typeof(new.labels) is distinct from 'object' then
    return new;
  end if;
  select l.key, l.value into v_label, v_version
  from jsonb_each(new.labels) as l
  where case
    -- CASE, not AND: the cast must not be tried on a string
    when jsonb_typeof(l.value) <> 'number' then false
    when l.value::numeric < 1 or l.value::numeric <> trunc(l.value::numeric) then false
    else not exists (
      select from prompt_versions v where v.prompt = new.id and v.version = l.value::numeric
    )
  end
  order by l.key
  limit 1;
  if v_label is not null then
    raise exception using
      errcode = '23503',
      message = format(
        'label %s of prompt %s points at version %s, which does not exist',
        v_label, new.prompt_id, v_version
      );
  end if;
  return new;
end
$$;

comment on function public.prompts_check_labels() is
  'Trigger: a label may point only at an existing version of its prompt (23503 otherwise).';

create trigger prompts_check_labels before insert or update of labels on public.prompts
  for each row execute function public.prompts_check_labels();

create function public.prompt_versions_guard() returns trigger
language plpgsql
set search_path = public
as $$
declare
  v_next integer;
begin
  if tg_op = 'UPDATE' then
    raise exception 'prompt versions are immutable: create a new version instead';
  elsif tg_op = 'DELETE' then
    -- A cascade from the prompt's own deletion runs after the prompt row is gone.
    if exists (select from prompts where id = old.prompt) then
      raise exception 'a prompt version is deleted only with its prompt';
    end if;
    return old;
  end if;
  -- Sees the committed versions (and this statement's earlier rows): a duplicate racing this one
  -- fails the primary key instead.
  select coalesce(max(version), 0) + 1 into v_next from prompt_versions where prompt = new.prompt;
  if new.version is distinct from v_next then
    raise exception using
      errcode = '23514',
      message = format('prompt versions are numbered in order: the next one is %s', v_next);
  end if;
  return new;
end
$$;

comment on function public.prompt_versions_guard() is
  'Trigger: versions are immutable, numbered 1, 2, … with no gap, and deleted only with their '
  'prompt.';

create trigger prompt_versions_guard before insert or update or delete on public.prompt_versions
  for each row execute function public.prompt_versions_guard();

-- ---------------------------------------------------------------------------------------------
-- Selecting a version
-- ---------------------------------------------------------------------------------------------

create function public.prompt_select_version(p_prompt uuid, p_labels jsonb, p_selector text)
returns integer
language plpgsql
stable
set search_path = public
as $$
declare
  v_label text := coalesce(p_selector, 'production');
  v_version integer;
begin
  if p_selector ~ '^[0-9]+$' then
    -- numeric, not integer: a selector beyond the integer range is no version, not an error
    select version into v_version
    from prompt_versions where prompt = p_prompt and version = p_selector::numeric;
    return v_version;
  end if;
  if jsonb_typeof(p_labels -> v_label) = 'number' then
    select version into v_version
    from prompt_versions where prompt = p_prompt and version = (p_labels -> v_label)::numeric;
  end if;
  if v_version is null and p_selector is null then
    select max(version) into v_version from prompt_versions where prompt = p_prompt;
  end if;
  return v_version;
end
$$;

comment on function public.prompt_select_version(uuid, jsonb, text) is
  'The version p_selector picks of the prompt p_prompt with labels p_labels: null → the '
  'production label''s, else the latest; digits → that number; else that label''s. Null when '
  'there is none. The same rule as selectVersion in src/prompts/template.ts.';

-- ---------------------------------------------------------------------------------------------
-- The gateway's read
-- ---------------------------------------------------------------------------------------------

create function public.gateway_resolve_prompt(
  p_org_id uuid,
  p_prompt_id text,
  p_selector text default null
) returns jsonb
language sql
stable
set search_path = public
as $$
  select jsonb_build_object('prompt_id', p.prompt_id, 'version', v.version, 'template', v.template)
  from prompts p
  join prompt_versions v
    on v.prompt = p.id and v.version = prompt_select_version(p.id, p.labels, p_selector)
  where p.org_id = p_org_id and p.prompt_id = p_prompt_id
$$;

comment on function public.gateway_resolve_prompt(uuid, text, text) is
  'The version p_selector picks (a number, a label, or null: production, else the latest) of an '
  'organisation''s prompt, in one round trip: {prompt_id, version, template}; null when the '
  'prompt or the version does not exist.';

-- ---------------------------------------------------------------------------------------------
-- Admin: prompts
-- ---------------------------------------------------------------------------------------------

create function public.admin_create_prompt_version(
  p_org text,
  p_prompt_id text,
  p_template jsonb
) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
  v_prompt uuid;
  v_row prompt_versions;
begin
  -- Creates the prompt, or locks its row until commit (DO UPDATE locks the conflicting row, and
  -- waits for a concurrent creator of the same prompt to finish). Creations of versions of one
  -- prompt therefore queue here, and each next statement sees its predecessors' versions.
  insert into prompts (org_id, prompt_id) values (v_org, p_prompt_id)
  on conflict (org_id, prompt_id) do update set updated_at = now()
  returning id into v_prompt;
  insert into prompt_versions (prompt, version, template)
  select v_prompt, coalesce(max(version), 0) + 1, p_template
  from prompt_versions where prompt = v_prompt
  returning * into v_row;
  return jsonb_build_object(
    'prompt_id', p_prompt_id,
    'version', v_row.version,
    'created_at', v_row.created_at
  );
end
$$;

comment on function public.admin_create_prompt_version(text, text, jsonb) is
  'Appends the next version (1 for a new prompt, which it creates) with template p_template; '
  'returns {prompt_id, version, created_at}.';

create function public.admin_list_prompts(p_org text) returns jsonb
language plpgsql
stable
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  return (
    select coalesce(
      jsonb_agg(
        jsonb_build_object(
          'prompt_id', p.prompt_id,
          'latest_version', (select max(v.version) from prompt_versions v where v.prompt = p.id),
          'labels', p.labels,
          'created_at', p.created_at,
          'updated_at', p.updated_at
        )
        -- byte order, whatever the database's collation: the local store sorts the same way
        order by p.prompt_id collate "C"
      ),
      '[]'
    )
    from prompts p
    where p.org_id = v_org
  );
end
$$;

comment on function public.admin_list_prompts(text) is
  'An organisation''s prompts in prompt id (byte) order: {prompt_id, latest_version, labels, '
  'created_at, updated_at}.';

create function public.admin_get_prompt(
  p_org text,
  p_prompt_id text,
  p_selector text default null
) returns jsonb
language plpgsql
stable
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
  v_prompt prompts;
  v_result jsonb;
begin
  select * into v_prompt from prompts where org_id = v_org and prompt_id = p_prompt_id;
  if not found then
    perform tenancy_not_found('prompt', p_prompt_id);
  end if;
  select jsonb_build_object(
    'prompt_id', v_prompt.prompt_id,
    'version', v.version,
    'template', v.template,
    'labels', v_prompt.labels,
    'created_at', v.created_at
  )
  into v_result
  from prompt_versions v
  where v.prompt = v_prompt.id
    and v.version = prompt_select_version(v_prompt.id, v_prompt.labels, p_selector);
  if v_result is null then
    perform tenancy_not_found('prompt version', format('%s@%s', p_prompt_id, p_selector));
  end if;
  return v_result;
end
$$;

comment on function public.admin_get_prompt(text, text, text) is
  'The version p_selector picks (as gateway_resolve_prompt) of a prompt: {prompt_id, version, '
  'template, labels (all of the prompt''s), created_at (the version''s)}.';

create function public.admin_label_prompt(
  p_org text,
  p_prompt_id text,
  p_version integer,
  p_label text
) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
  v_prompt prompts;
begin
  select * into v_prompt from prompts where org_id = v_org and prompt_id = p_prompt_id for update;
  if not found then
    perform tenancy_not_found('prompt', p_prompt_id);
  end if;
  if not exists (select from prompt_versions where prompt = v_prompt.id and version = p_version)
  then
    perform tenancy_not_found('prompt version', format('%s@%s', p_prompt_id, p_version));
  end if;
  -- a malformed label fails the labels check (23514)
  update prompts set labels = labels || jsonb_build_object(p_label, p_version)
  where id = v_prompt.id
  returning * into v_prompt;
  return jsonb_build_object(
    'prompt_id', v_prompt.prompt_id,
    'latest_version', (select max(version) from prompt_versions where prompt = v_prompt.id),
    'labels', v_prompt.labels,
    'created_at', v_prompt.created_at,
    'updated_at', v_prompt.updated_at
  );
end
$$;

comment on function public.admin_label_prompt(text, text, integer, text) is
  'Points p_label at version p_version of the prompt (creating or moving the label); returns the '
  'prompt as admin_list_prompts lists it.';

create function public.admin_delete_prompt(p_org text, p_prompt_id text) returns jsonb
language plpgsql
set search_path = public
as $$
declare
  v_org uuid := tenancy_org_id(p_org);
begin
  delete from prompts where org_id = v_org and prompt_id = p_prompt_id;
  return jsonb_build_object('deleted', found);
end
$$;

comment on function public.admin_delete_prompt(text, text) is
  'Deletes a prompt with all its versions; returns {"deleted": true|false}.';

-- ---------------------------------------------------------------------------------------------
-- Privileges: service_role only
-- ---------------------------------------------------------------------------------------------

alter table public.prompts enable row level security;
alter table public.prompt_versions enable row level security;

revoke all on table public.prompts, public.prompt_versions from public, anon, authenticated;
grant select, insert, update, delete on table public.prompts, public.prompt_versions
  to service_role;

revoke all on function
  public.prompt_template_valid(jsonb),
  public.prompts_check_labels(),
  public.prompt_versions_guard(),
  public.prompt_select_version(uuid, jsonb, text),
  public.gateway_resolve_prompt(uuid, text, text),
  public.admin_create_prompt_version(text, text, jsonb),
  public.admin_list_prompts(text),
  public.admin_get_prompt(text, text, text),
  public.admin_label_prompt(text, text, integer, text),
  public.admin_delete_prompt(text, text)
  from public, anon, authenticated;

grant execute on function
  public.prompt_template_valid(jsonb),
  public.prompts_check_labels(),
  public.prompt_versions_guard(),
  public.prompt_select_version(uuid, jsonb, text),
  public.gateway_resolve_prompt(uuid, text, text),
  public.admin_create_prompt_version(text, text, jsonb),
  public.admin_list_prompts(text),
  public.admin_get_prompt(text, text, text),
  public.admin_label_prompt(text, text, integer, text),
  public.admin_delete_prompt(text, text)
  to service_role;
