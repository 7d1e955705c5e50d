-- Per customer of customer_value: the raw value of each health component at the as-of date
-- (definitions: doc customer_health_component; windows and terms: var customer_health).
{%- set health = var('customer_health') %}
{%- set nps_range = health['survey_score_range']['nps'] %}
{%- set csat_range = health['survey_score_range']['csat'] %}
with

customer_value as (

    select * from {{ ref('stg_ml__customer_value_scores') }}

),

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

payments as (

    select * from {{ ref('int_payments_joined_to_orders') }}

),

cases as (

    select * from {{ ref('int_cases_joined_to_accounts') }}

),

surveys as (

    select * from {{ ref('int_survey_responses_joined_to_accounts') }}

),

as_of as (

    select
        as_of_date,
        cast(as_of_date - interval {{ health['revenue_trend_months'] }} month as date) as trend_split_date,
        cast(as_of_date - interval {{ 2 * health['revenue_trend_months'] }} month as date) as trend_start_date,
    from {{ ref('int_as_of_date') }}

),

revenue_trend as (

    -- last window: (split, as_of]; prior window: (start, split]
    select
        orders.account_id,
        coalesce(sum(orders.net_revenue) filter (where orders.order_date > as_of.trend_split_date), 0)
            as revenue_last_window,
        coalesce(sum(orders.net_revenue) filter (where orders.order_date <= as_of.trend_split_date), 0)
            as revenue_prior_window,
    from orders
    cross join as_of
    where orders.order_date > as_of.trend_start_date
        and orders.order_date <= as_of.as_of_date
    group by orders.account_id

),

satisfaction as (

    select
        surveys.account_id,
        avg(
            case surveys.survey_type
                when 'nps' then (surveys.score - {{ nps_range[0] }}) / ({{ nps_range[1] }} - {{ nps_range[0] }})
                when 'csat' then (surveys.score - {{ csat_range[0] }}) / ({{ csat_range[1] }} - {{ csat_range[0] }})
            end
        ) as satisfaction,
        count(*) as survey_answers,
    from surveys
    cross join as_of
    where cast(surveys.responded_at as date) > as_of.as_of_date - {{ health['survey_window_days'] }}
        and cast(surveys.responded_at as date) <= as_of.as_of_date
        and surveys.score is not null
    group by surveys.account_id

),

complaints as (

    select
        cases.account_id,
        count(*) as open_complaints,
    from cases
    cross join as_of
    where cases.category = 'complaint'
        and cast(cases.opened_at as date) <= as_of.as_of_date
        and (cases.resolved_at is null or cast(cases.resolved_at as date) > as_of.as_of_date)
    group by cases.account_id

),

due_orders as (

    -- shipped orders due by the as-of date, dated in the year before the due cut-off
    select
        orders.order_id,
        orders.account_id,
        orders.net_revenue,
    from orders
    cross join as_of
    where orders.order_status = 'shipped'
        and orders.order_date <= as_of.as_of_date - {{ health['payment_terms_days'] }}
        and orders.order_date > as_of.as_of_date - {{ health['payment_terms_days'] }} - 365

),

paid as (

    select
        payments.order_id,
        sum(payments.amount) as paid_amount,
    from payments
    cross join as_of
    where cast(payments.paid_at as date) <= as_of.as_of_date
    group by payments.order_id

),

overdue as (

    select
        due_orders.account_id,
        sum(greatest(due_orders.net_revenue - coalesce(paid.paid_amount, 0), 0)) as overdue_amount,
        sum(due_orders.net_revenue) as due_amount,
    from due_orders
    left join paid
        on due_orders.order_id = paid.order_id
    group by due_orders.account_id

),

final as (

    select
        customer_value.account_id,
        customer_value.probability_alive,
        coalesce(revenue_trend.revenue_last_window, 0) as revenue_last_window,
        coalesce(revenue_trend.revenue_prior_window, 0) as revenue_prior_window,
        coalesce(
            (coalesce(revenue_trend.revenue_last_window, 0) - coalesce(revenue_trend.revenue_prior_window, 0))
            / nullif(
                abs(coalesce(revenue_trend.revenue_last_window, 0))
                + abs(coalesce(revenue_trend.revenue_prior_window, 0)),
                0
            ),
            -1
        ) as revenue_trend,
        satisfaction.satisfaction,
        coalesce(satisfaction.survey_answers, 0) as survey_answers,
        coalesce(complaints.open_complaints, 0) as open_complaints,
        coalesce(overdue.overdue_amount, 0) as overdue_amount,
        coalesce(overdue.overdue_amount / nullif(overdue.due_amount, 0), 0) as overdue_share,
    from customer_value
    left join revenue_trend
        on customer_value.account_id = revenue_trend.account_id
    left join satisfaction
        on customer_value.account_id = satisfaction.account_id
    left join complaints
        on customer_value.account_id = complaints.account_id
    left join overdue
        on customer_value.account_id = overdue.account_id

)

select * from final
