-- Internal-process KPIs per month x region (and `*`): lead-to-opportunity, win rate, sales cycle,
-- order processing time, CRM completeness (current values of records created by the period end)
-- and its target. Ratios follow macro ratio; durations outside var duration_bounds are left out.
-- CRM completeness covers the collected critical fields of meta.field_policy (critical in the
-- contract, entity delivered, not declared not collected): the column list below is every critical
-- column of the sources (generated from the contracts); the policy table decides at run time which
-- count and with which target.
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

field_policy as (

    select * from {{ ref('stg_meta__field_policy') }}
    where source = 'crm'

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
        {{ ratio('count(*) filter (where leads.has_opportunity)', 'count(*)') }} as lead_to_opportunity_rate,
    from leads
    inner join months
        on leads.created_date between months.month_start_date and months.period_end_date
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),

opportunity_kpis as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        {{ ratio('count(*) filter (where opportunities.is_won)', 'count(*)') }} as win_rate,
        avg(opportunities.sales_cycle_days) filter (
            where opportunities.is_won and opportunities.is_sales_cycle_plausible
        ) as sales_cycle_days,
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
        and {{ plausible_duration(
            "date_diff('second', sales_orders.submitted_at, sales_orders.shipped_at) / 86400.0",
            'order_processing_days'
        ) }}
    group by grouping sets ((months.month_start_date, region), (months.month_start_date))

),
{%- set crm_entities = ['accounts', 'contacts', 'leads', 'opportunities'] %}
{%- set critical = critical_source_columns('crm', crm_entities) %}

policy_flags as (

    -- one row per CRM entity: for each critical column, counted (critical and collected) or not
    -- and its target; an entity without any counted field drops out
    {%- for entity in crm_entities %}
    select
        '{{ entity }}' as entity,
        {%- for field in critical[entity] %}
        coalesce(bool_or(field = '{{ field }}' and is_critical and is_collected), false) as counts_{{ field }},
        coalesce(max(target) filter (where field = '{{ field }}' and is_critical and is_collected), 0)
            as target_{{ field }},
        {%- endfor %}
    from field_policy
    where entity = '{{ entity }}'
    {{ 'union all by name' if not loop.last }}
    {%- endfor %}

),

crm_cells as (

    {{ completeness_cells('accounts', critical['accounts'], 'crm_accounts', 'crm_accounts') }}
    from crm_accounts
    inner join policy_flags
        on policy_flags.entity = 'accounts'
    union all
    {{ completeness_cells('contacts', critical['contacts'], 'crm_contacts', 'contact_accounts') }}
    from crm_contacts
    inner join policy_flags
        on policy_flags.entity = 'contacts'
    left join crm_accounts as contact_accounts
        on crm_contacts.account_id = contact_accounts.account_id
    union all
    {{ completeness_cells('leads', critical['leads'], 'crm_leads', 'crm_leads') }}
    from crm_leads
    inner join policy_flags
        on policy_flags.entity = 'leads'
    union all
    {{ completeness_cells('opportunities', critical['opportunities'], 'crm_opportunities', 'opportunity_accounts') }}
    from crm_opportunities
    inner join policy_flags
        on policy_flags.entity = 'opportunities'
    left join crm_accounts as opportunity_accounts
        on crm_opportunities.account_id = opportunity_accounts.account_id

),

crm_kpis as (

    select
        months.month_start_date,
        {{ region_key }} as region,
        {{ ratio('sum(crm_cells.filled)', 'sum(crm_cells.fields)') }} as crm_completeness_pct,
        {{ ratio('sum(crm_cells.target_cells)', 'sum(crm_cells.fields)') }} as crm_completeness_target,
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
        crm_kpis.crm_completeness_target,
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
