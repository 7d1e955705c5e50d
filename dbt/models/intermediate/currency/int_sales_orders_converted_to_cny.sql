-- Order headers with the CNY rate of their currency at the order date (macros/fx.sql).
with

orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        orders.order_id,
        orders.account_id,
        orders.opportunity_id,
        orders.rep_id,
        orders.channel,
        orders.region,
        orders.order_date,
        orders.submitted_at,
        orders.approved_at,
        orders.shipped_at,
        orders.status,
        orders.currency,
        {{ cny_rate('orders.currency') }} as fx_rate,
        orders.updated_at,
        orders._drop_id,
        orders._loaded_at,
    from orders
    {{ fx_join('orders.currency', 'orders.order_date') }}

)

select * from final
