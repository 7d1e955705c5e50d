with

returns as (

    select * from {{ ref('int_returns_converted_to_cny') }}

),

orders as (

    select * from {{ ref('int_sales_orders_converted_to_cny') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

final as (

    select
        returns.return_id,
        returns.order_id,
        returns.line_no,
        returns.sku,
        products.product_line,
        orders.account_id,
        orders.region,
        orders.order_date,
        returns.returned_at,
        cast(returns.returned_at as date) as returned_date,
        {{ date_key('returns.returned_at') }} as returned_date_key,
        returns.quantity,
        returns.amount,
        returns.amount_local,
        returns.currency,
        returns.is_orphan,
        returns.reason,
    from returns
    left join orders
        on returns.order_id = orders.order_id
    left join products
        on returns.sku = products.sku

)

select * from final
