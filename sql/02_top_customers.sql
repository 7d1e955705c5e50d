-- The top 100 customers by net revenue over the 365 days to the as-of date, with their share
-- of the total, RFM segment and tier (Chinese labels included).
select
    row_number() over (order by rfm.monetary desc, rfm.account_id asc) as rank,
    rfm.account_id,
    customers.account_name,
    customers.region,
    customers.industry,
    rfm.monetary as net_revenue_365d,
    round(rfm.monetary / sum(rfm.monetary) over (), 4) as share_of_revenue,
    rfm.frequency as orders_365d,
    rfm.recency_days,
    rfm.rfm_segment,
    rfm.rfm_segment_zh,
    rfm.customer_tier,
    rfm.customer_tier_zh,
from marts.rfm_customer as rfm
left join marts.dim_customer as customers
    on rfm.account_id = customers.account_id
qualify rank <= 100
order by rank
