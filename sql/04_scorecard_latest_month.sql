-- The balanced scorecard of the latest month, all regions: actual vs target with RAG status.
select
    perspective,
    perspective_zh,
    kpi_code,
    kpi_name,
    kpi_name_zh,
    round(actual_value, 4) as actual_value,
    round(target_value, 4) as target_value,
    direction,
    status,
    status_zh,
from marts.balanced_scorecard
where region = '*'
    and month_start_date = (select max(latest.month_start_date) from marts.balanced_scorecard as latest)
order by
    case perspective
        when 'financial' then 1 when 'customer' then 2 when 'internal_process' then 3 else 4
    end,
    sort_order
