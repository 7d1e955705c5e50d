-- Amount converted to CNY at the close date (expected close for open deals).
with

source as (

    select * from {{ source('crm', 'opportunities') }}

),

{{ fx_rate_ctes() }}

converted as (

    select
        source.opportunity_id,
        source.account_id,
        source.owner_rep_id,
        source.lead_id,
        source.opportunity_type,
        source.product_line,
        {{ to_cny('source.amount', 'source.currency') }} as amount,
        source.amount as amount_local,
        source.currency,
        {{ cny_rate('source.currency') }} as fx_rate,
        source.created_at,
        source.close_date,
        source.stage,
        source.is_closed,
        source.is_won,
        source.loss_reason,
        source.updated_at,
        source._drop_id,
        source._loaded_at,
    from source
    {{ fx_join('source.currency', 'source.close_date') }}

),

final as (

    select * from converted

)

select * from final
