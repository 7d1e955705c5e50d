-- Returns carry their order's currency (joined from the order header); converted at the return
-- date. A return whose order is unknown (an orphan) has no currency and no CNY amount: nothing is
-- guessed.
with

returns as (

    select
        *,
        cast(returned_at as date) as returned_date,
    from {{ ref('stg_erp__returns') }}

),

orders as (

    select
        order_id,
        currency,
    from {{ ref('stg_erp__sales_orders') }}

),

with_currency as (

    select
        returns.*,
        orders.currency,
        orders.order_id is null as is_orphan,
    from returns
    left join orders
        on returns.order_id = orders.order_id

),

{{ fx_rate_ctes() }}

final as (

    select
        with_currency.return_id,
        with_currency.order_id,
        with_currency.line_no,
        with_currency.sku,
        with_currency.quantity,
        {{ to_cny('with_currency.amount', 'with_currency.currency') }} as amount,
        with_currency.amount as amount_local,
        with_currency.currency,
        with_currency.is_orphan,
        with_currency.returned_at,
        with_currency.reason,
        with_currency._drop_id,
        with_currency._loaded_at,
    from with_currency
    {{ fx_join('with_currency.currency', 'with_currency.returned_date') }}

)

select * from final
