-- Financial KPIs per month x region (and `*`): net revenue, growth, margin, collection, mix, discount,
-- return rate. Orders not cancelled, dated in the month up to the as-of date.
{%- set region_key = "case when grouping(region) = 1 then '*' else coalesce(region, 'unknown') end" %}
with

months as (

    select * from {{ ref('int_scorecard_months') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_returns') }}

),

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

regions as (

    select region from {{ ref('dim_region') }}

),

month_lines as (

    select
        months.month_start_date,
        order_lines.region,
        order_lines.net_revenue,
        order_lines.gross_margin,
        order_lines.gross_amount,
        order_lines.line_amount,
        order_lines.returned_amount,
        order_lines.discount_rate,
        order_lines.is_new_product,
        coalesce(products.is_high_margin, false) as is_high_margin,
    from order_lines
    inner join months
        on order_lines.order_date between months.month_start_date and months.period_end_date
    left join products
        on order_lines.sku = products.sku
    where not order_lines.is_cancelled

),

line_kpis as (

    select
        month_start_date,
        {{ region_key }} as region,
        sum(net_revenue) as net_revenue,
        sum(gross_margin) / nullif(sum(net_revenue), 0) as gross_margin_pct,
        sum(net_revenue) filter (where is_high_margin) / nullif(sum(net_revenue), 0) as high_margin_share,
        sum(net_revenue) filter (where is_new_product) / nullif(sum(net_revenue), 0) as new_product_share,
        sum(gross_amount * discount_rate) / nullif(sum(gross_amount), 0) as avg_discount_rate,
        sum(returned_amount) / nullif(sum(line_amount), 0) as return_rate,
    from month_lines
    group by grouping sets ((month_start_date, region), (month_start_date))

),

growth as (

    select
        this_year.month_start_date,
        this_year.region,
        this_year.net_revenue / nullif(last_year.net_revenue, 0) - 1 as revenue_growth_yoy,
    from line_kpis as this_year
    left join line_kpis as last_year
        on last_year.month_start_date = this_year.month_start_date - interval 1 year
        and this_year.region = last_year.region

),

paid_per_order as (

    select
        payments.order_id,
        sum(payments.amount) as paid_amount,
    from payments
    where cast(payments.paid_at as date) <= (select max(period_end_date) from months)
    group by payments.order_id

),

collection as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        sum(coalesce(paid_per_order.paid_amount, 0)) / nullif(sum(orders.net_revenue), 0) as collection_rate,
    from orders
    inner join months
        on orders.order_date between months.month_start_date and months.period_end_date
    left join paid_per_order
        on orders.order_id = paid_per_order.order_id
    where orders.order_status = 'shipped'
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),

grid as (

    select
        months.month_start_date,
        regions.region,
    from months
    cross join regions

),

final as (

    select
        grid.month_start_date,
        grid.region,
        line_kpis.net_revenue,
        growth.revenue_growth_yoy,
        line_kpis.gross_margin_pct,
        collection.collection_rate,
        line_kpis.high_margin_share,
        line_kpis.new_product_share,
        line_kpis.avg_discount_rate,
        line_kpis.return_rate,
    from grid
    left join line_kpis
        on grid.month_start_date = line_kpis.month_start_date
        and grid.region = line_kpis.region
    left join growth
        on grid.month_start_date = growth.month_start_date
        and grid.region = growth.region
    left join collection
        on grid.month_start_date = collection.month_start_date
        and grid.region = collection.region

)

select * from final
