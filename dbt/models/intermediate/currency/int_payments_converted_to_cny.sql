-- Payments converted to CNY at the payment date (macros/fx.sql).
with

payments as (

    select
        *,
        cast(paid_at as date) as paid_date,
    from {{ ref('stg_erp__payments') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        payments.payment_id,
        payments.order_id,
        payments.paid_at,
        {{ to_cny('payments.amount', 'payments.currency') }} as amount,
        payments.amount as amount_local,
        payments.currency,
        {{ cny_rate('payments.currency') }} as fx_rate,
        payments.method,
        payments._drop_id,
        payments._loaded_at,
    from payments
    {{ fx_join('payments.currency', 'payments.paid_date') }}

)

select * from final
