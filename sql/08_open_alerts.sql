-- Alerts raised as of the as-of date, most severe first.
select
    severity,
    rule_code,
    rule_name_zh,
    subject,
    period,
    round(observed_value, 4) as observed_value,
    threshold,
    message,
    message_zh,
from marts.alerts
order by
    case severity when 'critical' then 1 when 'warning' then 2 else 3 end asc,
    rule_code asc,
    observed_value desc
