-- Lead-to-deal conversion per month the lead was created x channel: leads, those converted to an
-- opportunity, those whose opportunity was won, and each as a share of the cohort's leads (a
-- lead converts whatever funnel steps it skipped). A lead without created_at is in the cohort
-- without a month. Empty when leads are not delivered (marts.mart_status).
with

leads as (

    select * from {{ ref('int_leads_joined_to_opportunities') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

counts as (

    select
        cast(date_trunc('month', leads.created_date) as date) as cohort_month_start_date,
        coalesce(leads.channel, 'unknown') as channel,
        count(*) as leads,
        count(*) filter (where leads.has_opportunity) as leads_converted_to_opportunity,
        count(*) filter (where leads.is_won) as leads_won,
    from leads
    cross join as_of
    where coalesce(leads.created_date <= as_of.as_of_date, true)
        and {{ mart_inputs_delivered('lead_conversion_by_channel') }}
    group by all

),

final as (

    select
        cohort_month_start_date,
        strftime(cohort_month_start_date, '%Y-%m') as cohort_year_month,
        channel,
        leads,
        leads_converted_to_opportunity,
        leads_won,
        leads_converted_to_opportunity / leads as lead_to_opportunity_rate,
        leads_won / leads as lead_to_won_rate,
        leads_won / nullif(leads_converted_to_opportunity, 0) as opportunity_to_won_rate,
    from counts

)

select * from final
