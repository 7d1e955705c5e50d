{{
    config(
        materialized='incremental',
        unique_key=['month_start_date'],
        incremental_strategy='delete+insert',
    )
}}
-- Distribution of customer health by region x tier x band for the month of the as-of date. Incremental:
-- each run replaces its as-of month, earlier months stay, so the monthly history accrues run by run
-- (health needs the model's probability alive, which is fitted as of one date per run).
with

health as (

    select * from {{ ref('customer_health') }}

),

bands as (

    select * from {{ ref('customer_health_bands') }}

),

counted as (

    select
        cast(date_trunc('month', as_of_date) as date) as month_start_date,
        any_value(as_of_date) as as_of_date,
        region,
        customer_tier,
        any_value(customer_tier_zh) as customer_tier_zh,
        health_band,
        count(*) as customers,
        avg(health_score) as avg_health_score,
        sum(predicted_clv_12m) as predicted_clv_12m,
    from health
    group by all

),

final as (

    select
        counted.month_start_date,
        counted.as_of_date,
        counted.region,
        counted.customer_tier,
        counted.customer_tier_zh,
        counted.health_band,
        bands.label as health_band_name,
        bands.label_zh as health_band_name_zh,
        counted.customers,
        counted.customers / sum(counted.customers) over (
            partition by counted.month_start_date, counted.region, counted.customer_tier
        ) as share_of_customers,
        counted.avg_health_score,
        counted.predicted_clv_12m,
    from counted
    left join bands
        on counted.health_band = bands.health_band

)

select * from final
