-- Quarterly incentives per rep x quarter (quarters of rep_performance): bonus score = sum of
-- weight x component over the components with data, divided by the sum of their weights
-- (var rep_incentives.weights). Components, each on 0..1, from the rep's months in rep_performance:
--   attainment: the quarter's net revenue / target, capped at var rep_incentives.attainment_cap
--     (so it can exceed 1);
--   customer_satisfaction: the quarter's average CSAT answer of the accounts the rep owns, scaled
--     by var customer_health.survey_score_range.csat;
--   crm_process: CRM completeness of the opportunities the rep created in the quarter.
-- Awards: new customers (accounts whose first order, credited to the rep, falls in the quarter)
-- with their first-quarter net revenue; won deals of at least var rep_incentives.big_deal_min_amount
-- closed in the quarter; payments received in the quarter on orders credited to the rep (orders
-- not cancelled).
{%- set config = var('rep_incentives') %}
{%- set weights = config['weights'] %}
{%- set csat_range = var('customer_health')['survey_score_range']['csat'] %}
with

performance as (

    select * from {{ ref('rep_performance') }}

),

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

quarters as (

    select
        rep_id,
        any_value(rep_name) as rep_name,
        any_value(region) as region,
        year_quarter,
        cast(date_trunc('quarter', min(month_start_date)) as date) as quarter_start_date,
        cast(date_trunc('quarter', min(month_start_date)) + interval 3 month - interval 1 day as date)
            as quarter_end_date,
        sum(net_revenue) as net_revenue,
        sum(target_revenue) as target_revenue,
        -- monthly CSAT averages weighted back by their answers: the quarter's average answer
        {{ ratio('sum(csat_avg * csat_responses)', 'sum(csat_responses)') }} as csat_avg,
        sum(csat_responses) as csat_responses,
        {{ ratio('sum(crm_fields_filled)', 'sum(crm_fields_checked)') }} as crm_completeness_rate,
    from performance
    group by rep_id, year_quarter

),

first_orders as (

    select
        account_id,
        min(order_date) as first_order_date,
        arg_min(rep_id, (order_date, order_id)) as rep_id,
    from orders
    where account_id is not null
    group by account_id

),

new_customers as (

    select
        quarters.rep_id,
        quarters.year_quarter,
        count(distinct first_orders.account_id) as new_customers,
        coalesce(sum(orders.net_revenue), 0) as new_customer_revenue,
    from quarters
    inner join first_orders
        on quarters.rep_id = first_orders.rep_id
        and first_orders.first_order_date between quarters.quarter_start_date and quarters.quarter_end_date
    left join orders
        on first_orders.account_id = orders.account_id
        and orders.order_date between quarters.quarter_start_date and quarters.quarter_end_date
    group by all

),

big_deals as (

    select
        quarters.rep_id,
        quarters.year_quarter,
        count(*) as big_deals,
        sum(opportunities.amount) as big_deal_amount,
    from quarters
    inner join opportunities
        on quarters.rep_id = opportunities.owner_rep_id
        and opportunities.close_date between quarters.quarter_start_date and quarters.quarter_end_date
    cross join as_of
    where opportunities.is_won
        and opportunities.amount >= {{ config['big_deal_min_amount'] }}
        and opportunities.close_date <= as_of.as_of_date
    group by all

),

collections as (

    -- aggregated before the join to the quarters: a rep has many orders
    select
        orders.rep_id,
        year(payments.paid_date) || '-Q' || quarter(payments.paid_date) as year_quarter,
        count(*) as payments_collected,
        sum(payments.amount) as collected_amount,
    from payments
    inner join orders
        on payments.order_id = orders.order_id
    cross join as_of
    where payments.paid_date <= as_of.as_of_date
    group by all

),

components as (

    select
        quarters.*,
        {{ ratio('quarters.net_revenue', 'quarters.target_revenue') }} as attainment_rate,
        -- least() skips nulls in DuckDB: a rep without a target would score the cap
        case when quarters.target_revenue > 0 then
                least(quarters.net_revenue / quarters.target_revenue, {{ config['attainment_cap'] }})
        end as attainment_score,
        (quarters.csat_avg - {{ csat_range[0] }}) / ({{ csat_range[1] }} - {{ csat_range[0] }})
            as customer_satisfaction_score,
        quarters.crm_completeness_rate as crm_process_score,
        coalesce(new_customers.new_customers, 0) as new_customers,
        coalesce(new_customers.new_customer_revenue, 0) as new_customer_revenue,
        coalesce(big_deals.big_deals, 0) as big_deals,
        coalesce(big_deals.big_deal_amount, 0) as big_deal_amount,
        coalesce(collections.payments_collected, 0) as payments_collected,
        coalesce(collections.collected_amount, 0) as collected_amount,
    from quarters
    left join new_customers
        on quarters.rep_id = new_customers.rep_id
        and quarters.year_quarter = new_customers.year_quarter
    left join big_deals
        on quarters.rep_id = big_deals.rep_id
        and quarters.year_quarter = big_deals.year_quarter
    left join collections
        on quarters.rep_id = collections.rep_id
        and quarters.year_quarter = collections.year_quarter

),

final as (

    select
        rep_id,
        rep_name,
        region,
        year_quarter,
        quarter_start_date,
        quarter_end_date,
        quarter_end_date <= (select as_of.as_of_date from as_of) as is_complete_quarter,
        net_revenue,
        target_revenue,
        attainment_rate,
        attainment_score,
        csat_avg,
        csat_responses,
        customer_satisfaction_score,
        crm_process_score,
        -- rounded: a pay table, and the sum of weighted floats is not exact in the last digit
        round((
            {%- for component, weight in weights.items() %}
                coalesce({{ weight }} * {{ component }}_score, 0){{ ' +' if not loop.last }}
            {%- endfor %}
        ) / nullif(
            {%- for component, weight in weights.items() %}
                case when {{ component }}_score is not null then {{ weight }} else 0 end{{ ' +' if not loop.last }}
            {%- endfor %},
            0
        ), 6) as bonus_score,
        nullif(concat_ws(
            ', ',
            {%- for component, weight in weights.items() if weight > 0 %}
                case when {{ component }}_score is null then '{{ component }}' end{{ ',' if not loop.last }}
            {%- endfor %}
        ), '') as missing_components,
        new_customers,
        new_customer_revenue,
        big_deals,
        big_deal_amount,
        payments_collected,
        collected_amount,
    from components

)

select * from final
