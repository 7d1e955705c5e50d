-- Net revenue and gross margin by month and order region, with year-on-year growth.
-- Net revenue: lines of orders not cancelled minus returns; gross margin excludes returned units.
with

lines as (

    select
        order_lines.order_id,
        order_lines.line_no,
        order_lines.region,
        order_lines.order_date,
        order_lines.line_amount,
        order_lines.quantity,
        order_lines.unit_cost,
        order_lines.is_cancelled,
    from marts.fct_order_lines as order_lines

),

returned as (

    select
        order_id,
        line_no,
        sum(quantity) as returned_quantity,
        sum(amount) as returned_amount,
    from marts.fct_returns
    group by all

),

monthly as (

    select
        date_trunc('month', lines.order_date) as month,
        lines.region,
        sum(lines.line_amount - coalesce(returned.returned_amount, 0)) as net_revenue,
        sum(
            lines.line_amount - coalesce(returned.returned_amount, 0)
            - (lines.quantity - coalesce(returned.returned_quantity, 0)) * lines.unit_cost
        ) as gross_margin,
    from lines
    left join returned
        on lines.order_id = returned.order_id
        and lines.line_no = returned.line_no
    where not lines.is_cancelled
        and lines.order_date <= (select pipeline.as_of_date from marts.pipeline_metrics as pipeline)
    group by all

)

select
    strftime(this_year.month, '%Y-%m') as year_month,
    this_year.region,
    round(this_year.net_revenue, 2) as net_revenue,
    round(this_year.gross_margin / nullif(this_year.net_revenue, 0), 4) as gross_margin_pct,
    round(this_year.net_revenue / nullif(last_year.net_revenue, 0) - 1, 4) as revenue_growth_yoy,
from monthly as this_year
left join monthly as last_year
    on this_year.region = last_year.region
    and last_year.month = this_year.month - interval 1 year
order by year_month desc, net_revenue desc
