with

source as (

    select
        *,
        cast(paid_at as date) as paid_date,
    from {{ source('erp', 'payments') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        source.payment_id,
        source.order_id,
        source.paid_at,
        {{ to_cny('source.amount', 'source.currency') }} as amount,
        source.amount as amount_local,
        source.currency,
        {{ cny_rate('source.currency') }} as fx_rate,
        source.method,
        source._drop_id,
        source._loaded_at,
    from source
    {{ fx_join('source.currency', 'source.paid_date') }}

)

select * from final
