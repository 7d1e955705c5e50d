-- Fails for an extract entity of meta.field_policy (the contracts) that int_entities_delivered does
-- not list: a new contract must be added there (with its event date), or marts could read it
-- without knowing whether it was delivered.
select distinct field_policy.entity_name
from {{ ref('stg_meta__field_policy') }} as field_policy
left join {{ ref('int_entities_delivered') }} as entities
    on field_policy.entity_name = entities.entity_name
where entities.entity_name is null
