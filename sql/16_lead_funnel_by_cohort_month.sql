-- The lead funnel of each of the last 6 cohort months (leads created in the month), all regions
-- and channels: per step the leads that reached it and every earlier step (nested: the
-- conversions), the leads that reached it whatever before (any: not divided, it can exceed the
-- step before), and the nested conversion from the first step. Filter region or channel in the
-- where clause; the opportunity funnel is marts.opportunity_funnel_by_cohort, same columns.
with

as_of as (

    select as_of_date from marts.pipeline_metrics

),

cohort_steps as (

    select
        funnel.cohort_year_month,
        funnel.step_order,
        funnel.step,
        funnel.step_name,
        sum(funnel.entered_funnel_count) as entered_funnel_count,
        sum(funnel.reached_count_nested) as reached_count_nested,
        sum(funnel.reached_count_any) as reached_count_any,
    from marts.lead_funnel_by_cohort as funnel
    cross join as_of
    where funnel.cohort_month_start_date > date_trunc('month', as_of.as_of_date) - interval 6 month
    group by all

)

select
    cohort_year_month,
    step_order,
    step,
    step_name,
    entered_funnel_count,
    reached_count_nested,
    reached_count_any,
    round(reached_count_nested / nullif(entered_funnel_count, 0), 4) as nested_conversion_from_first_step,
from cohort_steps
order by cohort_year_month, step_order
