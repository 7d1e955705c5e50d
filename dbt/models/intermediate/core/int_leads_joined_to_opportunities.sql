with

leads as (

    select * from {{ ref('stg_crm__leads') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_converted_to_cny') }}

),

joined as (

    select
        leads.lead_id,
        leads.created_at,
        cast(leads.created_at as date) as created_date,
        {{ date_key('leads.created_at') }} as created_date_key,
        leads.company_name,
        leads.industry,
        leads.employee_count,
        leads.region,
        leads.channel,
        leads.campaign_id,
        leads.status,
        leads.owner_rep_id,
        leads.converted_at,
        leads.converted_account_id,
        leads.converted_opportunity_id,
        leads.status in ('qualified', 'converted') as is_sql,
        leads.converted_opportunity_id is not null as has_opportunity,
        coalesce(opportunities.is_won, false) as is_won,
        date_diff('day', cast(leads.created_at as date), cast(leads.converted_at as date)) as days_to_convert,
        case
            when coalesce(opportunities.is_won, opportunities.stage = 'closed_won')
                then date_diff('day', cast(leads.created_at as date), opportunities.close_date)
        end as days_to_won,
    from leads
    left join opportunities
        on leads.converted_opportunity_id = opportunities.opportunity_id

),

final as (

    select
        *,
        coalesce({{ plausible_duration('days_to_won', 'lead_to_won_days') }}, false) as is_days_to_won_plausible,
    from joined

)

select * from final
