-- One row per customer at the as-of date: BG/NBD inputs and the predictions of the newest converged
-- forecast fit (see the docs blocks customer_value_purchase / customer_value_predictions), with the
-- account's region, owner rep and tier.
with

scores as (

    select * from {{ ref('stg_ml__customer_value_scores') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

rfm as (

    select * from {{ ref('rfm_customer') }}

),

tier_labels as (

    select * from {{ ref('segment_labels') }}
    where label_type = 'customer_tier'

),

final as (

    select
        scores.account_id,
        customers.account_name,
        customers.region,
        customers.owner_rep_id,
        -- no order in the trailing window = revenue 0, below every tier bound
        coalesce(rfm.customer_tier, 'basic') as customer_tier,
        coalesce(rfm.customer_tier_zh, tier_labels.label_zh) as customer_tier_zh,
        scores.model_run_id,
        scores.as_of_date,
        scores.repeat_purchases,
        scores.recency_days,
        scores.age_days,
        scores.mean_repeat_purchase_value,
        scores.probability_alive,
        scores.expected_purchases_90d,
        scores.expected_purchases_365d,
        scores.probability_no_purchase_365d,
        scores.expected_purchase_value,
        scores.is_spend_from_own_history,
        scores.predicted_clv_12m,
        scores.predicted_clv_if_alive_12m,
        scores.predicted_lifetime_value,
    from scores
    left join customers
        on scores.account_id = customers.account_id
    left join rfm
        on scores.account_id = rfm.account_id
    left join tier_labels
        on tier_labels.code = 'basic'

)

select * from final
