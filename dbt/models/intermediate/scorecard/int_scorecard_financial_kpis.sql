-- Financial KPIs per month x region (and `*`): net revenue, growth, margin, collection, mix, discount.
-- Orders not cancelled, dated in the month up to the as-of date. Ratios follow the
-- ratio rule (macros/kpi.sql): a positive denominator gives a number, 0 included; else null.
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

sales_orders as (

    select * from {{ ref('int_sales_orders_converted_to_cny') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

products as (

    select * from {{ ref('int_products_classified') }}

),

payments as (

    select * from {{ ref('int_payments_joined_to_orders') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

live_lines as (

    select
        order_lines.*,
        coalesce(products.is_high_margin, false) as is_high_margin,
    from order_lines
    left join products
        on order_lines.sku = products.sku
    where not order_lines.is_cancelled
        and not order_lines.is_orphan

),

month_lines as (

    select
        months.month_start_date,
        live_lines.*,
    from live_lines
    inner join months
        on live_lines.order_date between months.month_start_date and months.period_end_date

),

line_kpis as (

    select
        month_start_date,
        {{ scorecard_region_key() }} as region,
        sum(net_revenue) as net_revenue,
        {{ ratio('sum(gross_margin)', 'sum(net_revenue)') }} as gross_margin_pct,
        {{ ratio('sum(net_revenue) filter (where is_high_margin)', 'sum(net_revenue)') }} as high_margin_share,
        {{ ratio('sum(net_revenue) filter (where is_new_product)', 'sum(net_revenue)') }} as new_product_share,
        {{ ratio('sum(gross_amount * discount_rate)', 'sum(gross_amount)') }} as avg_discount_rate,
    from month_lines
    group by {{ scorecard_grouping('month_start_date') }}

),

year_before_lines as (

    -- the same days a year earlier (a partial as-of month is compared with the same part)
    select
        months.month_start_date,
        live_lines.region,
        live_lines.net_revenue,
    from live_lines
    inner join months
        on live_lines.order_date between cast(months.month_start_date - interval 1 year as date)
        and cast(months.period_end_date - interval 1 year as date)

),

year_before as (

    select
        month_start_date,
        {{ scorecard_region_key() }} as region,
        sum(net_revenue) as net_revenue,
    from year_before_lines
    group by {{ scorecard_grouping('month_start_date') }}

),

due_orders as (

    -- shipped orders with the date their payment falls due: ship date + the customer's terms
    select
        orders.order_id,
        orders.region,
        orders.net_revenue,
        cast(sales_orders.shipped_at as date)
        + cast(coalesce(accounts.payment_terms_days, {{ var('payment_terms_default_days') }}) as integer)
            as due_date,
    from orders
    inner join sales_orders
        on orders.order_id = sales_orders.order_id
    left join accounts
        on orders.account_id = accounts.account_id
    where sales_orders.shipped_at is not null

),

paid_per_order as (

    select
        payments.order_id,
        sum(payments.amount) as paid_amount,
    from payments
    cross join as_of
    where payments.paid_date <= as_of.as_of_date
    group by payments.order_id

),

collection as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('sum(paid_per_order.paid_amount)', 'sum(due_orders.net_revenue)') }} as collection_rate,
    from due_orders
    inner join months
        on due_orders.due_date between months.month_start_date and months.period_end_date
    left join paid_per_order
        on due_orders.order_id = paid_per_order.order_id
    group by {{ scorecard_grouping('months.month_start_date') }}

),

final as (

    select
        grid.month_start_date,
        grid.region,
        coalesce(line_kpis.net_revenue, 0) as net_revenue,
        {{ ratio('coalesce(line_kpis.net_revenue, 0)', 'year_before.net_revenue') }} - 1 as revenue_growth_yoy,
        line_kpis.gross_margin_pct,
        collection.collection_rate,
        line_kpis.high_margin_share,
        line_kpis.new_product_share,
        line_kpis.avg_discount_rate,
    {{ scorecard_grid(['line_kpis', 'year_before', 'collection']) }}

)

select * from final
