-- Internal-process KPIs per month x region (and `*`): lead-to-opportunity, win rate, sales cycle,
-- order processing time, CRM completeness (current values of records created by the period end).
{%- set region_key = "case when grouping(region) = 1 then '*' else coalesce(region, 'unknown') end" %}
with

months as (

    select * from {{ ref('int_scorecard_months') }}

),

leads as (

    select * from {{ ref('fct_leads') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

sales_orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

),

crm_accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

crm_contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

crm_leads as (

    select * from {{ ref('stg_crm__leads') }}

),

crm_opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

regions as (

    select region from {{ ref('dim_region') }}

),

lead_kpis as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        count(*) filter (where leads.has_opportunity) / nullif(count(*), 0) as lead_to_opportunity_rate,
    from leads
    inner join months
        on leads.created_date between months.month_start_date and months.period_end_date
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),

opportunity_kpis as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        count(*) filter (where opportunities.is_won) / nullif(count(*), 0) as win_rate,
        avg(opportunities.sales_cycle_days) filter (where opportunities.is_won) as sales_cycle_days,
    from opportunities
    inner join months
        on opportunities.close_date between months.month_start_date and months.period_end_date
    where opportunities.is_closed
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),

processing_kpis as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        avg(date_diff('second', sales_orders.submitted_at, sales_orders.shipped_at) / 86400.0)
            as order_processing_days,
    from sales_orders
    inner join months
        on sales_orders.order_date between months.month_start_date and months.period_end_date
    where sales_orders.status != 'cancelled'
        and sales_orders.submitted_at is not null
        and sales_orders.shipped_at is not null
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),
{%- set crm = var('crm_critical_fields') %}

crm_cells as (

    select
        crm_accounts.region,
        crm_accounts.created_at,
        {% for f in crm['accounts'] %}(crm_accounts.{{ f }} is not null)::int{{ ' + ' if not loop.last }}{% endfor %} as filled,
        {{ crm['accounts'] | length }} as fields,
    from crm_accounts
    union all
    select
        crm_accounts.region,
        crm_contacts.created_at,
        {% for f in crm['contacts'] %}(crm_contacts.{{ f }} is not null)::int{{ ' + ' if not loop.last }}{% endfor %},
        {{ crm['contacts'] | length }},
    from crm_contacts
    left join crm_accounts
        on crm_contacts.account_id = crm_accounts.account_id
    union all
    select
        crm_leads.region,
        crm_leads.created_at,
        {% for f in crm['leads'] %}(crm_leads.{{ f }} is not null)::int{{ ' + ' if not loop.last }}{% endfor %},
        {{ crm['leads'] | length }},
    from crm_leads
    union all
    select
        crm_accounts.region,
        crm_opportunities.created_at,
        {% for f in crm['opportunities'] %}(crm_opportunities.{{ f }} is not null)::int{{ ' + ' if not loop.last }}{% endfor %},
        {{ crm['opportunities'] | length }},
    from crm_opportunities
    left join crm_accounts
        on crm_opportunities.account_id = crm_accounts.account_id

),

crm_kpis as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        sum(crm_cells.filled) / nullif(sum(crm_cells.fields), 0) as crm_completeness_pct,
    from crm_cells
    inner join months
        on coalesce(cast(crm_cells.created_at as date), months.period_end_date) <= months.period_end_date
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),

grid as (

    select
        months.month_start_date,
        regions.region,
    from months
    cross join regions

),

final as (

    select
        grid.month_start_date,
        grid.region,
        lead_kpis.lead_to_opportunity_rate,
        opportunity_kpis.win_rate,
        opportunity_kpis.sales_cycle_days,
        processing_kpis.order_processing_days,
        crm_kpis.crm_completeness_pct,
    from grid
    left join lead_kpis
        on grid.month_start_date = lead_kpis.month_start_date
        and grid.region = lead_kpis.region
    left join opportunity_kpis
        on grid.month_start_date = opportunity_kpis.month_start_date
        and grid.region = opportunity_kpis.region
    left join processing_kpis
        on grid.month_start_date = processing_kpis.month_start_date
        and grid.region = processing_kpis.region
    left join crm_kpis
        on grid.month_start_date = crm_kpis.month_start_date
        and grid.region = crm_kpis.region

)

select * from final
