-- @module Routing targets choose their provider key: a target may carry `"key"`, either
-- "organization" (the organisation's own stored provider key, required) or "operator" (the
-- gateway operator's `<PROVIDER>_API_KEY`, even when the organisation stored its own). Without it,
-- the organisation's key is used when it stored one for the provider, the operator's otherwise.
-- So one rule can say "openai/gpt-4o with our key, then openai/gpt-4o with the gateway's".
--
-- Only the check on routing_rules.targets changes; every rule of 0001's check is kept as it was.
-- gateway_resolve_key and admin_set_routing_rule pass `targets` through whole (no function
-- rebuilds a target member by member), so they need no change.
--
-- Runs after 0001_tenancy.sql, in one transaction. Re-adding the check validates the rows already
-- there: a stored target with some other `key` member (the old check ignored unknown members)
-- fails this migration (23514) instead of failing its organisation's requests once the gateway
-- reads `key`. Fix or remove such a rule, then run the migration again.

-- One statement: there is no moment without a check on targets.
alter table public.routing_rules
  drop constraint routing_rules_targets_check,
  -- 1 to 16 targets, each {"provider": "<non-empty>", "model": "<non-empty>", "weight"?: > 0,
  -- "key"?: "organization" | "operator"}: the shape the gateway parses
  -- (src/stores/embedded/tenants-schema.ts), so a stored rule can never break its organisation's
  -- requests.
  add constraint routing_rules_targets_check check (
    case
      when jsonb_typeof(targets) = 'array' then
        jsonb_array_length(targets) between 1 and 16
        -- strict: an element that is itself an array is not unwrapped into its items
        and not jsonb_path_exists(targets, 'strict $[*] ? (@.type() != "object")')
        -- lax: a missing member is an empty sequence (so the comparison is false), not an error.
        -- type() does not unwrap arrays in lax mode, so ["operator"] is not taken for "operator".
        and not jsonb_path_exists(
          targets,
          'lax $[*] ? (!(@.provider.type() == "string" && @.provider != "")
            || !(@.model.type() == "string" && @.model != "")
            || (exists(@.weight) && !(@.weight.type() == "number" && @.weight > 0))
            || (exists(@.key) && !(@.key.type() == "string"
              && (@.key == "organization" || @.key == "operator"))))'
        )
      else false
    end
  );

comment on constraint routing_rules_targets_check on public.routing_rules is
  '1 to 16 objects {"provider", "model", "weight"?: > 0, "key"?: "organization" | "operator"}.';

comment on column public.routing_rules.targets is
  'Ordered targets: [{"provider": "openai", "model": "gpt-4o", "weight": 2, '
  '"key": "organization"}, ...]. "key": "organization" uses the organisation''s stored provider '
  'key (required), "operator" the gateway''s; absent: the organisation''s if stored, else the '
  'gateway''s.';
