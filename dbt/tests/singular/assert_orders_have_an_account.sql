-- Warns with every order (not cancelled, up to the as-of date) that has no account: it counts in
-- revenue, but in no customer mart (rfm_customer, int_customers_acquired, LTV/CAC, the customer
-- KPIs), which would otherwise hold one "customer" with a null id summing all such orders.
{{ config(severity='warn') }}
select
    order_id,
    order_date,
    region,
    net_revenue,
from {{ ref('int_orders_aggregated_from_lines') }}
where account_id is null
