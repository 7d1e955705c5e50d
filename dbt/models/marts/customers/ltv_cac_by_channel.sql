-- Per acquisition channel x acquisition year (year of the first order):
--   cac  = that channel's ad spend in that year / new customers acquired through it that year
--          (null when there are none);
--   ltv  = average trailing-window gross margin per active customer of the cohort
--          x expected lifetime, lifetime = 1 / annual churn rate capped at var ltv_max_lifetime_years;
--   payback_months = cac / (average annual margin / 12).
-- Churn is the company-wide annual churn rate as of the as-of date (see DECISIONLOG.md). When the order
-- history does not cover the whole previous churn window, that churn (and the lifetime and LTV built on
-- it) is not computed and is_churn_history_short says why.
-- Beside it, on predicted value (customer_value, BG/NBD + Gamma-Gamma), for the same active customers:
--   predicted_ltv = average predicted_lifetime_value x the cohort's trailing gross margin rate;
--   predicted_payback_months = cac / (average predicted_clv_12m x margin rate / 12).
-- Orders without an account are no customer's. Empty when orders are not delivered; without ad
-- spend delivered, spend, CAC, the ratio and payback are null, not 0 (marts.mart_status says so).
with

customers as (

    select * from {{ ref('int_customers_acquired') }}

),

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

spend as (

    select * from {{ ref('fct_marketing_spend') }}

),

channel_labels as (

    select * from {{ ref('channel_labels') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

customer_value as (

    select * from {{ ref('customer_value') }}

),

history as (

    -- the previous churn window is (churn_previous_window_start, churn_window_start]
    select
        min(orders.order_date) as history_start_date,
        min(orders.order_date) > any_value(as_of.churn_previous_window_start) + 1 as is_churn_history_short,
    from orders
    cross join as_of

),

acquired as (

    select *
    from customers
    where first_order_date is not null
        and {{ mart_inputs_delivered('ltv_cac_by_channel') }}

),

activity as (

    select
        orders.account_id,
        bool_or(orders.order_date > as_of.churn_window_start) as is_active_last_window,
        bool_or(
            orders.order_date > as_of.churn_previous_window_start
            and orders.order_date <= as_of.churn_window_start
        ) as is_active_previous_window,
        sum(orders.gross_margin) filter (where orders.order_date > as_of.churn_window_start)
            as trailing_gross_margin,
        sum(orders.net_revenue) filter (where orders.order_date > as_of.churn_window_start)
            as trailing_net_revenue,
    from orders
    cross join as_of
    where orders.order_date > as_of.churn_previous_window_start
        and orders.account_id is not null
    group by orders.account_id

),

churn as (

    select
        count(*) filter (where is_active_previous_window and not is_active_last_window)
        / nullif(count(*) filter (where is_active_previous_window), 0) as churn_rate,
    from activity

),

cohorts as (

    select
        acquired.acquisition_channel as channel,
        acquired.acquisition_year,
        count(*) as new_customers,
        count(activity.account_id) filter (where activity.is_active_last_window) as active_customers,
        avg(activity.trailing_gross_margin) filter (where activity.is_active_last_window)
            as avg_annual_gross_margin,
        sum(activity.trailing_gross_margin) filter (where activity.is_active_last_window)
        / nullif(sum(activity.trailing_net_revenue) filter (where activity.is_active_last_window), 0)
            as gross_margin_rate,
        avg(customer_value.predicted_lifetime_value) filter (where activity.is_active_last_window)
            as avg_predicted_lifetime_value,
        avg(customer_value.predicted_clv_12m) filter (where activity.is_active_last_window)
            as avg_predicted_clv_12m,
    from acquired
    left join activity
        on acquired.account_id = activity.account_id
    left join customer_value
        on acquired.account_id = customer_value.account_id
    group by all

),

spend_per_year as (

    select
        spend.channel,
        year(spend.spend_date) as acquisition_year,
        sum(spend.spend) as marketing_spend,
    from spend
    cross join as_of
    where spend.spend_date <= as_of.as_of_date
        and {{ mart_inputs_delivered('ltv_cac_by_channel') }}
    group by all

),

channel_years as (

    select
        channel,
        acquisition_year,
    from cohorts
    union
    select
        channel,
        acquisition_year,
    from spend_per_year

),

combined as (

    select
        channel_years.channel,
        channel_years.acquisition_year,
        coalesce(cohorts.new_customers, 0) as new_customers,
        coalesce(cohorts.active_customers, 0) as active_customers,
        case when {{ delivered(['marketing.ad_spend_daily']) }} then coalesce(spend_per_year.marketing_spend, 0) end
            as marketing_spend,
        cohorts.avg_annual_gross_margin,
        cohorts.gross_margin_rate,
        cohorts.avg_predicted_lifetime_value * cohorts.gross_margin_rate as predicted_ltv,
        cohorts.avg_predicted_clv_12m * cohorts.gross_margin_rate as predicted_margin_12m,
        churn.churn_rate,
        history.history_start_date,
        history.is_churn_history_short,
        case
            when history.is_churn_history_short then null
            when coalesce(churn.churn_rate, 0) <= 0 then {{ var('ltv_max_lifetime_years') }}
            else least(1 / churn.churn_rate, {{ var('ltv_max_lifetime_years') }})
        end as expected_lifetime_years,
    from channel_years
    left join cohorts
        on channel_years.channel = cohorts.channel
        and channel_years.acquisition_year = cohorts.acquisition_year
    left join spend_per_year
        on channel_years.channel = spend_per_year.channel
        and channel_years.acquisition_year = spend_per_year.acquisition_year
    cross join churn
    cross join history

),

metrics as (

    select
        *,
        marketing_spend / nullif(new_customers, 0) as cac,
        avg_annual_gross_margin * expected_lifetime_years as ltv,
    from combined

),

final as (

    select
        metrics.channel,
        coalesce(channel_labels.channel_name, metrics.channel) as channel_name,
        coalesce(channel_labels.channel_name_zh, metrics.channel) as channel_name_zh,
        metrics.acquisition_year,
        metrics.new_customers,
        metrics.active_customers,
        cast(metrics.marketing_spend as decimal(18, 2)) as marketing_spend,
        metrics.cac,
        metrics.avg_annual_gross_margin,
        metrics.churn_rate,
        metrics.expected_lifetime_years,
        metrics.ltv,
        metrics.ltv / nullif(metrics.cac, 0) as ltv_cac_ratio,
        metrics.cac / nullif(metrics.avg_annual_gross_margin / 12, 0) as payback_months,
        coalesce(metrics.ltv / nullif(metrics.cac, 0) < {{ var('ltv_cac_flag_below') }}, false) as is_flagged,
        metrics.history_start_date,
        metrics.is_churn_history_short,
        metrics.gross_margin_rate,
        metrics.predicted_ltv,
        metrics.predicted_ltv / nullif(metrics.cac, 0) as predicted_ltv_cac_ratio,
        metrics.predicted_margin_12m,
        metrics.cac / nullif(metrics.predicted_margin_12m / 12, 0) as predicted_payback_months,
    from metrics
    left join channel_labels
        on metrics.channel = channel_labels.channel

)

select * from final
