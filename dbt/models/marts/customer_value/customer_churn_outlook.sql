-- The scorecard's churn KPI beside the model's expected churn, per region (order region, 'unknown'
-- when the order has none, as the scorecard) and `*`, as of the as-of date:
--   observed_churn_rate = the scorecard's churn_rate of the as-of month: customers with orders in the
--     previous 365 days and none in the last 365, over those with orders in the previous 365;
--   expected_churn_rate = the model's expectation of the same for the coming year: the mean, over the
--     customers with orders in the last 365 days, of probability_no_purchase_365d.
with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

customer_value as (

    select * from {{ ref('customer_value') }}

),

scorecard_actuals as (

    select * from {{ ref('int_scorecard_actuals') }}

),

active_in_region as (

    select distinct
        orders.account_id,
        coalesce(orders.region, 'unknown') as region,
    from orders
    cross join as_of
    where orders.order_date > as_of.churn_window_start
        and orders.order_date <= as_of.as_of_date

),

active_everywhere as (

    select distinct
        account_id,
        '*' as region,
    from active_in_region

),

active as (

    select * from active_in_region
    union all
    select * from active_everywhere

),

expected as (

    select
        active.region,
        count(*) as active_customers,
        count(customer_value.account_id) as scored_customers,
        avg(customer_value.probability_no_purchase_365d) as expected_churn_rate,
        sum(customer_value.probability_no_purchase_365d) as expected_churned_customers,
    from active
    left join customer_value
        on active.account_id = customer_value.account_id
    group by active.region

),

observed as (

    select
        scorecard_actuals.region,
        scorecard_actuals.actual_value as observed_churn_rate,
    from scorecard_actuals
    cross join as_of
    where scorecard_actuals.kpi_code = 'churn_rate'
        and scorecard_actuals.month_start_date = cast(date_trunc('month', as_of.as_of_date) as date)

),

final as (

    select
        coalesce(expected.region, observed.region) as region,
        as_of.as_of_date,
        observed.observed_churn_rate,
        expected.expected_churn_rate,
        coalesce(expected.active_customers, 0) as active_customers,
        coalesce(expected.scored_customers, 0) as scored_customers,
        expected.expected_churned_customers,
    from expected
    full outer join observed
        on expected.region = observed.region
    cross join as_of

)

select * from final
