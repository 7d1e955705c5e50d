-- The bonus table of the quarter of the as-of date: per rep, the bonus score and its components
-- (attainment, customer satisfaction, CRM process; weights in dbt_project.yml var rep_incentives),
-- the components left out for lack of data, and the awards (new customers, big deals,
-- collections). is_complete_quarter is false while the quarter is still running.
with

latest as (

    select max(year_quarter) as year_quarter
    from marts.rep_incentives

)

select
    incentives.year_quarter,
    incentives.is_complete_quarter,
    incentives.region,
    incentives.rep_id,
    incentives.rep_name,
    round(incentives.bonus_score, 4) as bonus_score,
    round(incentives.attainment_score, 4) as attainment_score,
    round(incentives.customer_satisfaction_score, 4) as customer_satisfaction_score,
    round(incentives.crm_process_score, 4) as crm_process_score,
    incentives.missing_components,
    incentives.new_customers,
    round(incentives.new_customer_revenue, 2) as new_customer_revenue,
    incentives.big_deals,
    round(incentives.big_deal_amount, 2) as big_deal_amount,
    incentives.payments_collected,
    round(incentives.collected_amount, 2) as collected_amount,
from marts.rep_incentives as incentives
inner join latest
    on incentives.year_quarter = latest.year_quarter
order by incentives.bonus_score desc nulls last, incentives.rep_id asc
