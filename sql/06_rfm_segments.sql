-- Customers and net revenue (365 days) per RFM segment and customer tier.
select
    rfm_segment,
    rfm_segment_zh,
    customer_tier,
    customer_tier_zh,
    count(*) as customers,
    sum(monetary) as net_revenue_365d,
    round(sum(monetary) / sum(sum(monetary)) over (), 4) as share_of_revenue,
    round(avg(recency_days), 1) as avg_recency_days,
    round(avg(frequency), 2) as avg_orders,
from marts.rfm_customer
group by all
order by net_revenue_365d desc
