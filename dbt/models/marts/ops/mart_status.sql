-- One row per business mart: built (every entity it needs is delivered), partial (some of its
-- parts need an entity that is not delivered: those parts are empty or "no data") or empty (an
-- entity it needs is not delivered: the mart has no rows), with the reason. "Delivered": see
-- int_entities_delivered. The entities each mart, funnel, KPI and alert rule needs are config:
-- vars mart_inputs, funnel_inputs, alert_rules.<rule>.inputs, seeds/scorecard_kpis.csv inputs
-- (there `a|b` is one input that either entity satisfies).
{%- set parts = [] %}
{%- for mart, inputs in var('mart_inputs').items() %}
    {%- do parts.append({'mart': mart, 'part': none, 'inputs': inputs}) %}
{%- endfor %}
{%- for funnel, inputs in var('funnel_inputs').items() %}
    {%- do parts.append({'mart': 'funnel', 'part': funnel ~ ' funnel', 'inputs': inputs}) %}
{%- endfor %}
{%- for rule, config in var('alert_rules').items() if config['enabled'] %}
    {%- do parts.append({'mart': 'alerts', 'part': 'rule ' ~ rule, 'inputs': config.get('inputs') or []}) %}
{%- endfor %}
with

entities as (

    select * from {{ ref('int_entities_delivered') }}

),

kpis as (

    select * from {{ ref('scorecard_kpis') }}

),

configured_parts as (
    {%- for part in parts %}
        select
            '{{ part['mart'] }}' as mart,
            {{ "'" ~ part['part'] ~ "'" if part['part'] else 'cast(null as varchar)' }} as part,
            {%- if part['inputs'] %}
                unnest([
                    {% for entity in part['inputs'] %}
                        '{{ entity }}'{{ ',' if not loop.last }}
                    {% endfor %}
                ]) as entity_name,
            {%- else %}
                cast(null as varchar) as entity_name,
            {%- endif %}
        {{ 'union all' if not loop.last }}
    {%- endfor %}

),

kpi_parts as (

    select
        'balanced_scorecard' as mart,
        'KPI ' || kpi_code as part,
        nullif(unnest(string_split(coalesce(inputs, ''), ' ')), '') as entity_name,
    from kpis

),

part_inputs as (

    -- input_term: one input; `a|b` (a KPI's inputs) is met by either entity
    select
        *,
        entity_name as input_term,
    from configured_parts
    union all
    select
        mart,
        part,
        nullif(unnest(string_split(coalesce(entity_name, ''), '|')), '') as entity_name,
        entity_name as input_term,
    from kpi_parts

),

input_status as (

    select
        part_inputs.mart,
        part_inputs.part,
        part_inputs.input_term,
        bool_or(coalesce(entities.is_delivered, part_inputs.entity_name is null)) as is_delivered,
        string_agg(
            part_inputs.entity_name
            || ' ('
            || coalesce(entities.not_delivered_reason, 'unknown entity')
            || ')',
            ' or '
            order by part_inputs.entity_name
        ) as missing,
    from part_inputs
    left join entities
        on part_inputs.entity_name = entities.entity_name
    group by all

),

part_status as (

    select
        mart,
        part,
        bool_and(is_delivered) as is_delivered,
        string_agg(distinct missing, ', ' order by missing) filter (where not is_delivered) as missing,
    from input_status
    group by all

),

final as (

    select
        mart,
        case
            when bool_and(is_delivered) then 'built'
            when count(part) = 0 or not bool_or(is_delivered) and mart not in ('balanced_scorecard', 'alerts')
                then 'empty'
            else 'partial'
        end as status,
        case
            when bool_and(is_delivered) then null
            when count(part) = 0 then 'not delivered: ' || string_agg(missing, ', ' order by missing)
            else string_agg(part || ' needs ' || missing, '; ' order by part) filter (where not is_delivered)
        end as reason,
    from part_status
    group by mart

)

select * from final
