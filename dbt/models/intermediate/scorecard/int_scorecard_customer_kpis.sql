-- Customer KPIs per month x region (and `*`): trailing customer base (var scorecard_trailing_days:
-- active, churn, repurchase, cross-sell, top-100 share), new customers, NPS, CSAT and complaints of
-- the month. Orders without an account are no customer's. Ratios follow macro ratio.
{%- set trailing = var('scorecard_trailing_days') %}
{%- set top_customers = var('scorecard_top_customers') %}
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

surveys as (

    select * from {{ ref('int_survey_responses_joined_to_accounts') }}

),

cases as (

    select * from {{ ref('int_cases_joined_to_accounts') }}

),

product_lines as (

    -- a number per product line: the windows below compare numbers, not text (a third faster)
    select
        product_line,
        row_number() over (order by product_line) as product_line_number,
    from (
        select distinct product_line
        from order_lines
        where product_line is not null
    ) as distinct_product_lines

),

region_days as (

    -- lines not cancelled per region (every line twice: once under its region, once under `*`) x
    -- account x order date, so that the trailing windows below join days, not lines. An order has
    -- one order date (order header), so distinct orders per day add up to distinct orders per
    -- window; two or more distinct product lines <=> min(number) <> max(number).
    select
        case when copies.is_all_regions then '*' else coalesce(order_lines.region, 'unknown') end as region,
        order_lines.account_id,
        order_lines.order_date,
        count(distinct order_lines.order_id) as orders,
        min(product_lines.product_line_number) as min_product_line,
        max(product_lines.product_line_number) as max_product_line,
        sum(order_lines.net_revenue) as net_revenue,
    from order_lines
    left join product_lines on order_lines.product_line = product_lines.product_line
    cross join (values (false), (true)) as copies (is_all_regions)
    where not order_lines.is_cancelled
        and not order_lines.is_orphan
        and order_lines.account_id is not null
    group by all

),

customer_windows as (

    select
        months.month_start_date,
        region_days.region,
        region_days.account_id,
        coalesce(sum(region_days.orders) filter (
            where region_days.order_date > months.period_end_date - {{ trailing }}
        ), 0) as orders_last,
        coalesce(min(region_days.min_product_line) filter (
            where region_days.order_date > months.period_end_date - {{ trailing }}
        ) <> max(region_days.max_product_line) filter (
            where region_days.order_date > months.period_end_date - {{ trailing }}
        ), false) as has_two_product_lines_last,
        coalesce(sum(region_days.net_revenue) filter (
            where region_days.order_date > months.period_end_date - {{ trailing }}
        ), 0) as revenue_last,
        count(*) filter (where region_days.order_date <= months.period_end_date - {{ trailing }})
        > 0 as was_active_before,
    from region_days
    inner join months
        on region_days.order_date > months.period_end_date - 2 * {{ trailing }}
        and region_days.order_date <= months.period_end_date
    group by all

),

customer_kpis as (

    -- top100_concentration: the largest revenues (var scorecard_top_customers), an inactive
    -- customer's counted as 0 (it has none in the window). max_by keeps them without ranking every
    -- customer; tied revenues are equal, so which of them it keeps does not change the sum.
    select
        month_start_date,
        region,
        count(*) filter (where orders_last > 0) as active_customers,
        {{ ratio(
            'count(*) filter (where was_active_before and orders_last = 0)',
            'count(*) filter (where was_active_before)'
        ) }} as churn_rate,
        {{ ratio('count(*) filter (where orders_last >= 2)', 'count(*) filter (where orders_last > 0)') }}
            as repurchase_rate,
        {{ ratio('count(*) filter (where has_two_product_lines_last)', 'count(*) filter (where orders_last > 0)') }}
            as cross_sell_rate,
        {{ ratio(
            'list_sum(max_by(case when orders_last > 0 then revenue_last else 0 end, revenue_last, '
            ~ top_customers ~ '))',
            'sum(revenue_last) filter (where orders_last > 0)'
        ) }} as top100_concentration,
    from customer_windows
    group by all

),

first_order_regions as (

    select
        account_id,
        arg_min(region, [epoch(order_date), hash(order_id)]) as region,
        min(order_date) as first_order_date,
    from orders
    where account_id is not null
    group by account_id

),

new_customer_kpis as (

    -- top100_concentration: the largest revenues (var scorecard_top_customers), an inactive
    -- customer's counted as 0 (it has none in the window). max_by keeps them without ranking every
    -- customer; tied revenues are equal, so which of them it keeps does not change the sum.
    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        count(*) as new_customers,
    from first_order_regions
    inner join months
        on first_order_regions.first_order_date between months.month_start_date and months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

survey_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        100.0 * {{ ratio(
            "count(*) filter (where surveys.survey_type = 'nps' and surveys.score >= 9)
            - count(*) filter (where surveys.survey_type = 'nps' and surveys.score <= 6)",
            "count(*) filter (where surveys.survey_type = 'nps')"
        ) }} as nps,
        avg(surveys.score) filter (where surveys.survey_type = 'csat') as csat_avg,
    from surveys
    inner join months
        on cast(surveys.responded_at as date) between months.month_start_date and months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

case_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        count(*) filter (where cases.category = 'complaint') as complaint_cases,
    from cases
    inner join months
        on cast(cases.opened_at as date) between months.month_start_date and months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

final as (

    select
        grid.month_start_date,
        grid.region,
        coalesce(customer_kpis.active_customers, 0) as active_customers,
        coalesce(new_customer_kpis.new_customers, 0) as new_customers,
        customer_kpis.churn_rate,
        customer_kpis.repurchase_rate,
        customer_kpis.cross_sell_rate,
        survey_kpis.nps,
        survey_kpis.csat_avg,
        100.0 * {{ ratio('case_kpis.complaint_cases', 'customer_kpis.active_customers') }} as complaint_rate,
        customer_kpis.top100_concentration,
    {{ scorecard_grid(['customer_kpis', 'new_customer_kpis', 'survey_kpis', 'case_kpis']) }}

)

select * from final
