with

opportunities as (

    select * from {{ ref('int_opportunities_converted_to_cny') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

final as (

    select
        opportunities.opportunity_id,
        opportunities.account_id,
        accounts.region,
        opportunities.owner_rep_id,
        opportunities.lead_id,
        opportunities.opportunity_type,
        opportunities.product_line,
        opportunities.amount,
        opportunities.amount_local,
        opportunities.currency,
        opportunities.created_at,
        cast(opportunities.created_at as date) as created_date,
        {{ date_key('opportunities.created_at') }} as created_date_key,
        opportunities.close_date,
        opportunities.stage,
        coalesce(opportunities.is_closed, opportunities.stage in ('closed_won', 'closed_lost')) as is_closed,
        coalesce(opportunities.is_won, opportunities.stage = 'closed_won') as is_won,
        opportunities.loss_reason,
        case
            when coalesce(opportunities.is_won, opportunities.stage = 'closed_won')
                then date_diff('day', cast(opportunities.created_at as date), opportunities.close_date)
        end as sales_cycle_days,
        coalesce({{ plausible_duration(
            "date_diff('day', cast(opportunities.created_at as date), opportunities.close_date)", 'sales_cycle_days'
        ) }}, false) as is_sales_cycle_plausible,
    from opportunities
    left join accounts
        on opportunities.account_id = accounts.account_id

)

select * from final
