-- Lead funnel and opportunity funnel: how many reached each step, conversion to the next step,
-- and (opportunities) the days deals spend in each stage.
select
    funnel,
    step_order,
    step,
    step_name,
    step_name_zh,
    reached_count,
    nested_count,
    round(conversion_rate, 4) as conversion_rate,
    round(conversion_from_start, 4) as conversion_from_start,
    current_count as open_deals_in_stage,
    round(avg_days_in_stage, 1) as avg_days_in_stage,
    median_days_in_stage,
from marts.funnel
order by funnel, step_order
