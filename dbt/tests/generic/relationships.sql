{#-
    dbt's `relationships` (every non-null key of the child is a key of the parent `to`), with one
    exception: a parent whose rows come from one extract entity says so in its config
    (`meta: {entity: crm.accounts}`), and when the deployment policy declares that entity not
    delivered, the child's keys have nothing to point at and are not counted as orphans. An ERP-only
    company still carries account ids on its orders; without this, every order would be a failing row
    of a warning on every run. A parent without `meta.entity`, or whose entity is delivered, is tested
    as dbt tests it. Python's orphan_share check leaves out the same keys
    (dagster_project/quality/integrity.py). See DECISIONLOG.md, "Relationships to undelivered parents".
-#}
{% test relationships(model, column_name, to, field) %}
{#- referenced unconditionally, so that dbt records the dependency while it parses (execute is false then) -#}
{%- set field_policy = ref('stg_meta__field_policy') %}
{%- set parent_entity = relationship_parent_entity(to) %}

with

child as (

    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null

),

parent as (

    select {{ field }} as to_field
    from {{ to }}

)

select child.from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null
{%- if parent_entity %}
    -- the parent's entity ({{ parent_entity }}) is delivered: the policy does not declare it otherwise
    and not exists (
        select 1 from {{ field_policy }} as field_policy
        where field_policy.entity_name = '{{ parent_entity }}'
            and not field_policy.is_delivered
    )
{%- endif %}

{% endtest %}

