-- Fails for every strategy target whose decomposed month x region x product_line cells do not add
-- up to it (within 1%). Consistent targets always add up; a failure means targets of different
-- grains contradict each other (the finest grain wins, see DECISIONLOG.md), hence a warning.
{{ config(severity='warn') }}
with

targets as (

    select * from {{ ref('stg_strategy__targets') }}
    where target_value is not null

),

cells as (

    select * from {{ ref('int_targets_decomposed') }}

),

compared as (

    select
        targets.period,
        targets.region,
        targets.product_line,
        targets.metric,
        targets.target_value,
        coalesce(sum(cells.target_value), 0) as decomposed_value,
    from targets
    left join cells
        on targets.metric = cells.metric
        and cells.month_start_date between targets.period_start_month and targets.period_end_month
        and targets.region in ('*', cells.region)
        and targets.product_line in ('*', cells.product_line)
    group by all

)

select *
from compared
where abs(decomposed_value - target_value) > 0.01 * abs(target_value)
