-- Lead-to-deal conversion by channel, leads created in the 12 months up to the as-of date: leads,
-- converted to an opportunity, won, and each as a share of the channel's leads. Recent cohorts
-- have had less time to convert. Per cohort month: marts.lead_conversion_by_channel; the funnel
-- step by step (nested counts): marts.lead_funnel_by_cohort.
with

as_of as (

    select as_of_date from marts.pipeline_metrics

)

select
    conversion.channel,
    sum(conversion.leads) as leads,
    sum(conversion.leads_converted_to_opportunity) as leads_converted_to_opportunity,
    sum(conversion.leads_won) as leads_won,
    round(sum(conversion.leads_converted_to_opportunity) / nullif(sum(conversion.leads), 0), 4)
        as lead_to_opportunity_rate,
    round(sum(conversion.leads_won) / nullif(sum(conversion.leads), 0), 4) as lead_to_won_rate,
from marts.lead_conversion_by_channel as conversion
cross join as_of
where conversion.cohort_month_start_date > date_trunc('month', as_of.as_of_date) - interval 12 month
group by all
order by lead_to_won_rate desc nulls last, leads desc
