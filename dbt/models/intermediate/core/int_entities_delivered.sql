-- One row per extract entity: is it delivered, and from which date its data runs.
-- Delivered = the deployment does not declare it not delivered (meta.field_policy) and it has a
-- loaded drop (meta.ingest_audit) or rows (a header-only drop is a delivered, empty entity).
-- first_event_date: the earliest date of the entity's own events (orders, leads, cases, ...);
-- null for master data (accounts, products, reps, ...), which covers every period it is delivered.
{%- set event_dates = {
    'crm.accounts': none,
    'crm.activities': 'occurred_at',
    'crm.cases': 'opened_at',
    'crm.contacts': none,
    'crm.leads': 'created_at',
    'crm.opportunities': 'created_at',
    'crm.opportunity_stage_history': 'entered_at',
    'crm.sales_reps': none,
    'erp.fx_rates': none,
    'erp.payments': 'paid_at',
    'erp.products': none,
    'erp.returns': 'returned_at',
    'erp.sales_order_lines': none,
    'erp.sales_orders': 'order_date',
    'hr.training_records': 'completed_date',
    'marketing.ad_spend_daily': 'spend_date',
    'marketing.campaigns': none,
    'marketing.survey_responses': 'responded_at',
    'marketing.web_events': 'occurred_at',
    'strategy.targets': none,
} %}
with

policy as (

    select
        entity_name,
        bool_and(is_delivered) as is_declared_delivered,
    from {{ ref('stg_meta__field_policy') }}
    group by entity_name

),

audit as (

    select
        source || '.' || entity as entity_name,
        count(*) filter (where status = 'loaded') as loaded_drops,
    from {{ ref('stg_meta__ingest_audit') }}
    group by all

),

tables as (
    {%- for entity_name, event_date in event_dates.items() %}
        {%- set source_name, entity = entity_name.split('.') %}

        select
            '{{ source_name }}' as source,
            '{{ entity }}' as entity,
            '{{ entity_name }}' as entity_name,
            count(*) as row_count,
            {%- if event_date %}
                cast(min({{ event_date }}) as date) as first_event_date,
                cast(max({{ event_date }}) as date) as last_event_date,
            {%- else %}
                cast(null as date) as first_event_date,
                cast(null as date) as last_event_date,
            {%- endif %}
        from {{ ref('stg_' ~ source_name ~ '__' ~ entity) }}
        {{ 'union all' if not loop.last }}
    {%- endfor %}

),

final as (

    select
        tables.source,
        tables.entity,
        tables.entity_name,
        tables.row_count,
        coalesce(audit.loaded_drops, 0) as loaded_drops,
        coalesce(policy.is_declared_delivered, true) as is_declared_delivered,
        coalesce(policy.is_declared_delivered, true)
        and (tables.row_count > 0 or coalesce(audit.loaded_drops, 0) > 0) as is_delivered,
        case
            when not coalesce(policy.is_declared_delivered, true)
                then 'declared not delivered in the deployment policy'
            when tables.row_count = 0 and coalesce(audit.loaded_drops, 0) = 0
                then 'no drop loaded'
        end as not_delivered_reason,
        tables.first_event_date,
        cast(date_trunc('month', tables.first_event_date) as date) as first_event_month,
        tables.last_event_date,
    from tables
    left join policy
        on tables.entity_name = policy.entity_name
    left join audit
        on tables.entity_name = audit.entity_name

)

select * from final
