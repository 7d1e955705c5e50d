-- Customer health 0-100 per customer at the as-of date: each component of int_customer_health_components
-- scaled to 0..1 by seeds/customer_health_components.csv, weighted, averaged over the components the
-- customer has a value for (x 100), then banded by seeds/customer_health_bands.csv (健康 / 关注 / 风险).
with

components as (

    select * from {{ ref('int_customer_health_components') }}

),

component_config as (

    select * from {{ ref('customer_health_components') }}

),

bands as (

    select * from {{ ref('customer_health_bands') }}

),

customer_value as (

    select * from {{ ref('customer_value') }}

),

component_values as (

    select
        account_id,
        probability_alive,
        revenue_trend,
        satisfaction,
        cast(open_complaints as double) as open_complaints,
        overdue_share as overdue_payments,
    from components

),

raw_values as (

    select
        account_id,
        component,
        raw_value,
    from component_values
    unpivot (
        raw_value for component in (probability_alive, revenue_trend, satisfaction, open_complaints, overdue_payments)
    )

),

scored as (

    -- unpivot drops null values: a component without a value carries no weight. Component scores are
    -- shown rounded to 6 decimals; the health score uses them unrounded.
    select
        raw_values.account_id,
        raw_values.component,
        component_config.weight,
        greatest(
            0,
            least(
                1,
                (raw_values.raw_value - component_config.zero_score_at)
                / (component_config.full_score_at - component_config.zero_score_at)
            )
        ) as component_score,
    from raw_values
    inner join component_config
        on raw_values.component = component_config.component

),

health as (

    select
        account_id,
        round(100 * sum(weight * component_score) / nullif(sum(weight), 0), 1) as health_score,
        round(max(component_score) filter (where component = 'probability_alive'), 6) as probability_alive_score,
        round(max(component_score) filter (where component = 'revenue_trend'), 6) as revenue_trend_score,
        round(max(component_score) filter (where component = 'satisfaction'), 6) as satisfaction_score,
        round(max(component_score) filter (where component = 'open_complaints'), 6) as open_complaints_score,
        round(max(component_score) filter (where component = 'overdue_payments'), 6) as overdue_payments_score,
    from scored
    group by account_id

),

banded as (

    select
        health.*,
        bands.health_band,
        bands.label as health_band_name,
        bands.label_zh as health_band_name_zh,
    from health
    asof left join bands
        on health.health_score >= bands.min_score

),

final as (

    select
        customer_value.account_id,
        customer_value.account_name,
        customer_value.region,
        customer_value.owner_rep_id,
        customer_value.customer_tier,
        customer_value.customer_tier_zh,
        customer_value.as_of_date,
        banded.health_score,
        banded.health_band,
        banded.health_band_name,
        banded.health_band_name_zh,
        components.probability_alive,
        components.revenue_last_window,
        components.revenue_prior_window,
        components.revenue_trend,
        components.satisfaction,
        components.survey_answers,
        components.open_complaints,
        components.overdue_amount,
        components.overdue_share,
        banded.probability_alive_score,
        banded.revenue_trend_score,
        banded.satisfaction_score,
        banded.open_complaints_score,
        banded.overdue_payments_score,
        customer_value.predicted_clv_12m,
    from customer_value
    inner join banded
        on customer_value.account_id = banded.account_id
    inner join components
        on customer_value.account_id = components.account_id

)

select * from final
