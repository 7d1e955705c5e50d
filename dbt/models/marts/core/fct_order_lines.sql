{{
    config(
        materialized='incremental',
        unique_key=['order_id', 'line_no'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- One row per order line, with the order header and the product's cost. Incremental: a line is
-- (re)built when the line, its order or its product was (re)loaded since the last run
-- (_loaded_at watermark), so late updates and re-delivered drops replace the old row. Lines in a
-- foreign currency are rebuilt every run: a late exchange rate changes their CNY amounts (they
-- are a few percent of the lines). A line whose order is unknown is flagged is_orphan (no order
-- fields, no CNY amounts); it is rebuilt when its order arrives.
with

order_lines as (

    select * from {{ ref('int_sales_order_lines_converted_to_cny') }}

),

orders as (

    select * from {{ ref('int_sales_orders_converted_to_cny') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

joined as (

    select
        order_lines.order_id,
        order_lines.line_no,
        order_lines.sku,
        products.product_line,
        orders.account_id,
        orders.opportunity_id,
        orders.rep_id,
        orders.channel,
        orders.region,
        orders.order_date,
        {{ date_key('orders.order_date') }} as order_date_key,
        orders.status as order_status,
        coalesce(orders.status = 'cancelled', false) as is_cancelled,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.discount_rate,
        cast(order_lines.quantity * order_lines.unit_price as decimal(18, 2)) as gross_amount,
        order_lines.line_amount,
        order_lines.unit_price_local,
        order_lines.line_amount_local,
        products.unit_cost,
        cast(order_lines.quantity * products.unit_cost as decimal(18, 2)) as cost_amount,
        coalesce(products.is_new_product, false) as is_new_product,
        order_lines.currency,
        order_lines.is_orphan,
        greatest(
            order_lines._loaded_at,
            coalesce(orders._loaded_at, order_lines._loaded_at),
            coalesce(products._loaded_at, order_lines._loaded_at)
        ) as _loaded_at,
    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id
    left join products
        on order_lines.sku = products.sku

),

final as (

    select * from joined
    {% if is_incremental() -%}
    where _loaded_at > (select coalesce(max(_loaded_at), timestamp '1900-01-01') from {{ this }})
        or currency <> 'CNY'
    {%- endif %}

)

select * from final
