-- LTV, CAC and payback by acquisition channel for the latest acquisition year; channels whose
-- LTV / CAC is below 1 are flagged.
select
    channel,
    channel_name,
    channel_name_zh,
    acquisition_year,
    new_customers,
    marketing_spend,
    round(cac, 2) as cac,
    round(ltv, 2) as ltv,
    round(ltv_cac_ratio, 2) as ltv_cac_ratio,
    round(payback_months, 1) as payback_months,
    is_flagged,
from marts.ltv_cac_by_channel
where acquisition_year = (select max(latest.acquisition_year) from marts.ltv_cac_by_channel as latest)
order by ltv_cac_ratio desc nulls last
