{#-
    funnel_by_cohort(entity_steps): the CTEs the cohort funnels (lead_funnel_by_cohort,
    opportunity_funnel_by_cohort) share, ending in `final`. `entity_steps` names a CTE with one row
    per entity x funnel step: entity_id, cohort_month_start_date, region, channel, product_line,
    step_order, step, step_name, step_name_zh and has_reached (the entity reached the step, whatever
    it did before). Nested = reached this step and every earlier one, so nested counts never grow
    along the funnel and only they give conversions (the `any` counts may, e.g. SQL above MQL).
-#}
{% macro funnel_by_cohort(entity_steps) -%}
nested as (

    select
        *,
        bool_and(has_reached) over (
            partition by entity_id
            order by step_order
            rows between unbounded preceding and current row
        ) as has_reached_nested,
    from {{ entity_steps }}

),

counts as (

    select
        cohort_month_start_date,
        region,
        channel,
        product_line,
        step_order,
        step,
        step_name,
        step_name_zh,
        count(*) as entered_funnel_count,
        count(*) filter (where has_reached_nested) as reached_count_nested,
        count(*) filter (where has_reached) as reached_count_any,
    from nested
    group by all

),

final as (

    select
        cohort_month_start_date,
        strftime(cohort_month_start_date, '%Y-%m') as cohort_year_month,
        region,
        channel,
        product_line,
        step_order,
        step,
        step_name,
        step_name_zh,
        entered_funnel_count,
        reached_count_nested,
        reached_count_any,
        reached_count_any - reached_count_nested as reached_count_skipping_earlier_steps,
        reached_count_nested / nullif(first_value(reached_count_nested) over cohort_steps, 0)
            as nested_conversion_from_first_step,
        reached_count_nested / nullif(lag(reached_count_nested) over cohort_steps, 0)
            as nested_conversion_from_previous_step,
    from counts
    window cohort_steps as (
        partition by cohort_month_start_date, region, channel, product_line
        order by step_order
    )

)
{%- endmacro %}
