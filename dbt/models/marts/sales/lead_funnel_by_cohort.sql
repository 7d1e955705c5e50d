-- The lead funnel by cohort: one row per month the lead was created x region x channel x product
-- line x step of seeds/lead_funnel_steps.csv, whose reached_flag names the lead's flag for the
-- step. Nested and any counts and the nested conversions: macro funnel_by_cohort. Leads carry no
-- product line (crm.leads): product_line is 'unknown' on every row, kept so that both cohort
-- funnels share one grain. A lead without created_at is in the cohort without a month. Empty when
-- leads are not delivered (marts.mart_status).
{%- set lead_flags = ['is_lead', 'is_mql', 'is_sql', 'has_opportunity', 'is_won'] %}
with

leads as (

    select * from {{ ref('int_leads_joined_to_opportunities') }}

),

lead_scores as (

    select * from {{ ref('lead_scores') }}

),

lead_steps as (

    select * from {{ ref('lead_funnel_steps') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

scoped_leads as (

    select
        leads.lead_id as entity_id,
        cast(date_trunc('month', leads.created_date) as date) as cohort_month_start_date,
        coalesce(leads.region, 'unknown') as region,
        coalesce(leads.channel, 'unknown') as channel,
        'unknown' as product_line,
        true as is_lead,
        coalesce(lead_scores.is_mql, false) as is_mql,
        coalesce(leads.is_sql, false) as is_sql,
        coalesce(leads.has_opportunity, false) as has_opportunity,
        coalesce(leads.is_won, false) as is_won,
    from leads
    left join lead_scores
        on leads.lead_id = lead_scores.lead_id
    cross join as_of
    where coalesce(leads.created_date <= as_of.as_of_date, true)
        and {{ mart_inputs_delivered('lead_funnel_by_cohort') }}

),

lead_steps_reached as (

    select
        scoped_leads.entity_id,
        scoped_leads.cohort_month_start_date,
        scoped_leads.region,
        scoped_leads.channel,
        scoped_leads.product_line,
        lead_steps.step_order,
        lead_steps.step,
        lead_steps.step_name,
        lead_steps.step_name_zh,
        case
            {%- for flag in lead_flags %}
                when lead_steps.reached_flag = '{{ flag }}' then scoped_leads.{{ flag }}
            {%- endfor %}
            else error('seeds/lead_funnel_steps.csv: unknown reached_flag ' || lead_steps.reached_flag)
        end as has_reached,
    from scoped_leads
    cross join lead_steps

),

{{ funnel_by_cohort('lead_steps_reached') }}

select * from final
