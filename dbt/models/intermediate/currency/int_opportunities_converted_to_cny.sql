-- Opportunity amounts converted to CNY at the close date (expected close for open deals).
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        opportunities.opportunity_id,
        opportunities.account_id,
        opportunities.owner_rep_id,
        opportunities.lead_id,
        opportunities.opportunity_type,
        opportunities.product_line,
        {{ to_cny('opportunities.amount', 'opportunities.currency') }} as amount,
        opportunities.amount as amount_local,
        opportunities.currency,
        {{ cny_rate('opportunities.currency') }} as fx_rate,
        opportunities.created_at,
        opportunities.close_date,
        opportunities.stage,
        opportunities.is_closed,
        opportunities.is_won,
        opportunities.loss_reason,
        opportunities.updated_at,
        opportunities._drop_id,
        opportunities._loaded_at,
    from opportunities
    {{ fx_join('opportunities.currency', 'opportunities.close_date') }}

)

select * from final
