with

source as (

    select * from {{ source('erp', 'sales_orders') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        source.order_id,
        source.account_id,
        source.opportunity_id,
        source.rep_id,
        source.channel,
        source.region,
        source.order_date,
        source.submitted_at,
        source.approved_at,
        source.shipped_at,
        source.status,
        source.currency,
        {{ cny_rate('source.currency') }} as fx_rate,
        source.updated_at,
        source._drop_id,
        source._loaded_at,
    from source
    {{ fx_join('source.currency', 'source.order_date') }}

)

select * from final
