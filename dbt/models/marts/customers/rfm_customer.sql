-- RFM over the trailing window (var rfm_window_days) to the as-of date, per customer with at
-- least one order (not cancelled) in it. Tie-safe quintile scores with cume_dist; segments
-- from var rfm_segments (first match wins); tier from var tier_bounds on the window's net revenue.
-- Orders without an account are no customer's (assert_orders_have_an_account counts them); empty
-- when orders are not delivered (marts.mart_status says why).
{%- set tiers = var('tier_bounds') %}
with

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

labels as (

    select * from {{ ref('segment_labels') }}

),

window_orders as (

    select orders.*
    from orders
    cross join as_of
    where orders.order_date > as_of.as_of_date - {{ var('rfm_window_days') }}
        and orders.order_date <= as_of.as_of_date
        and orders.account_id is not null
        and {{ mart_inputs_delivered('rfm_customer') }}

),

per_customer as (

    select
        window_orders.account_id,
        date_diff('day', max(window_orders.order_date), any_value(as_of.as_of_date)) as recency_days,
        count(distinct window_orders.order_id) as frequency,
        sum(window_orders.net_revenue) as monetary,
    from window_orders
    cross join as_of
    group by window_orders.account_id

),

scored as (

    select
        *,
        6 - ceil(5 * cume_dist() over (order by recency_days)) as r_score,
        ceil(5 * cume_dist() over (order by frequency)) as f_score,
        ceil(5 * cume_dist() over (order by monetary)) as m_score,
    from per_customer

),

segmented as (

    select
        account_id,
        recency_days,
        frequency,
        monetary,
        cast(r_score as integer) as r_score,
        cast(f_score as integer) as f_score,
        cast(m_score as integer) as m_score,
        case
            {%- for rule in var('rfm_segments') %}
                when {{ rule['condition'] }} then '{{ rule['segment'] }}'
            {%- endfor %}
            else '{{ var('rfm_segment_fallback') }}'
        end as rfm_segment,
        case
            when monetary > {{ tiers['strategic_above'] }} then 'strategic'
            when monetary >= {{ tiers['growth_from'] }} then 'growth'
            else 'basic'
        end as customer_tier,
    from scored

),

final as (

    select
        segmented.account_id,
        segmented.recency_days,
        segmented.frequency,
        segmented.monetary,
        segmented.r_score,
        segmented.f_score,
        segmented.m_score,
        segmented.rfm_segment,
        segment_labels.label_zh as rfm_segment_zh,
        segmented.customer_tier,
        tier_labels.label_zh as customer_tier_zh,
    from segmented
    left join labels as segment_labels
        on segment_labels.label_type = 'rfm_segment'
        and segmented.rfm_segment = segment_labels.code
    left join labels as tier_labels
        on tier_labels.label_type = 'customer_tier'
        and segmented.customer_tier = tier_labels.code

)

select * from final
