-- Internal-process KPIs per month x region (and `*`): lead-to-opportunity, win rate, sales cycle,
-- order processing time, return rate, complaint first response, CRM completeness (current values of
-- records created by the period end) and its target, CRM timeliness (touches logged on time),
-- forecast accuracy (the forecast as it stood at the month's start against the amount won:
-- int_opportunities_forecast_at_month_start). Ratios follow macro ratio; durations outside
-- var duration_bounds are left out.
-- CRM completeness covers the collected critical fields of meta.field_policy (critical in the
-- contract, entity delivered, not declared not collected): every cell of the CRM tables is
-- unpivoted and the policy table decides at run time which count and with which target.
with

months as (

    select * from {{ ref('int_scorecard_months') }}

),

leads as (

    select * from {{ ref('int_leads_joined_to_opportunities') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_joined_to_accounts') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_returns') }}

),

cases as (

    select * from {{ ref('int_cases_joined_to_accounts') }}

),

sales_orders as (

    select * from {{ ref('int_sales_orders_converted_to_cny') }}

),

logged_activities_by_day as (

    -- touches with created_at: whether each was logged on time (the rule of rep_performance too),
    -- counted per day and region before the join to the months: a touch falls in several periods,
    -- and the range join of every touch cost 2.4 s of a build at scale 10 (15 M touches)
    select
        region,
        activity_date,
        count(*) filter (where is_logged_on_time) as touches_logged_on_time,
        count(*) as touches_with_created_at,
    from {{ ref('int_activities_checked_for_logging_delay') }}
    where is_logged_on_time is not null
    group by all

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

opportunity_forecasts as (

    select * from {{ ref('int_opportunities_forecast_at_month_start') }}

),

crm_opportunities as (

    -- the delivered fields under their contract names: CRM completeness counts them
    select * from {{ ref('stg_crm__opportunities') }}

),

lead_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('count(*) filter (where leads.has_opportunity)', 'count(*)') }} as lead_to_opportunity_rate,
    from leads
    inner join months
        on leads.created_date between months.month_start_date and months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

opportunity_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('count(*) filter (where opportunities.is_won)', 'count(*)') }} as win_rate,
        avg(opportunities.sales_cycle_days) filter (
            where opportunities.is_won and opportunities.is_sales_cycle_plausible
        ) as sales_cycle_days,
    from opportunities
    inner join months
        on opportunities.close_date between months.month_start_date and months.period_end_date
    where opportunities.is_closed
    group by {{ scorecard_grouping('months.month_start_date') }}

),

processing_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
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
    group by {{ scorecard_grouping('months.month_start_date') }}

),

return_kpis as (

    -- returns counted against their order line, whenever returned
    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('sum(order_lines.returned_amount)', 'sum(order_lines.line_amount)') }} as return_rate,
    from order_lines
    inner join months
        on order_lines.order_date between months.month_start_date and months.period_end_date
    where not order_lines.is_cancelled
        and not order_lines.is_orphan
    group by {{ scorecard_grouping('months.month_start_date') }}

),

complaint_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        avg(cases.first_response_hours) filter (
            where cases.category = 'complaint' and cases.is_first_response_plausible
        ) as complaint_first_response_hours,
    from cases
    inner join months
        on cast(cases.opened_at as date) between months.month_start_date and months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

timeliness_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('sum(logged_activities_by_day.touches_logged_on_time)',
                 'sum(logged_activities_by_day.touches_with_created_at)') }} as crm_timeliness_pct,
    from logged_activities_by_day
    inner join months
        on logged_activities_by_day.activity_date between months.month_start_date and months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

field_cells as (

    -- every cell of the CRM tables; the policy keeps the critical, collected fields
    {{ field_cells('accounts', 'crm_accounts', 'account_id') }}
    union all
    {{ field_cells('contacts', 'crm_contacts', 'contact_id') }}
    union all
    {{ field_cells('leads', 'crm_leads', 'lead_id') }}
    union all
    {{ field_cells('opportunities', 'crm_opportunities', 'opportunity_id') }}

),

record_cells as (

    select
        field_cells.entity,
        field_cells.record_id,
        count(*) filter (where field_cells.is_filled) as filled,
        count(*) as fields,
        sum(field_policy.target) as target_cells,
    from field_cells
    inner join field_policy
        on field_cells.entity = field_policy.entity
        and field_cells.field = field_policy.field
    where field_policy.is_critical
        and field_policy.is_collected
    group by all

),

crm_records as (

    -- region (the account's for contacts and opportunities) and creation of every CRM record
    select
        'accounts' as entity,
        crm_accounts.account_id as record_id,
        crm_accounts.region,
        crm_accounts.created_at,
    from crm_accounts
    union all
    select
        'contacts' as entity,
        crm_contacts.contact_id as record_id,
        contact_accounts.region,
        crm_contacts.created_at,
    from crm_contacts
    left join crm_accounts as contact_accounts
        on crm_contacts.account_id = contact_accounts.account_id
    union all
    select
        'leads' as entity,
        crm_leads.lead_id as record_id,
        crm_leads.region,
        crm_leads.created_at,
    from crm_leads
    union all
    select
        'opportunities' as entity,
        crm_opportunities.opportunity_id as record_id,
        opportunity_accounts.region,
        crm_opportunities.created_at,
    from crm_opportunities
    left join crm_accounts as opportunity_accounts
        on crm_opportunities.account_id = opportunity_accounts.account_id

),

crm_cells as (

    select
        crm_records.region,
        crm_records.created_at,
        record_cells.filled,
        record_cells.fields,
        record_cells.target_cells,
    from crm_records
    inner join record_cells
        on crm_records.entity = record_cells.entity
        and crm_records.record_id = record_cells.record_id

),

crm_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ ratio('sum(crm_cells.filled)', 'sum(crm_cells.fields)') }} as crm_completeness_pct,
        {{ ratio('sum(crm_cells.target_cells)', 'sum(crm_cells.fields)') }} as crm_completeness_target,
    from crm_cells
    inner join months
        on coalesce(cast(crm_cells.created_at as date), months.period_end_date) <= months.period_end_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

forecast_kpis as (

    select
        months.month_start_date,
        {{ scorecard_region_key() }} as region,
        {{ forecast_accuracy(
            'sum(opportunity_forecasts.weighted_amount)', 'sum(opportunity_forecasts.won_amount)'
        ) }} as forecast_accuracy,
    from opportunity_forecasts
    inner join months
        on opportunity_forecasts.month_start_date = months.month_start_date
    group by {{ scorecard_grouping('months.month_start_date') }}

),

final as (

    select
        grid.month_start_date,
        grid.region,
        lead_kpis.lead_to_opportunity_rate,
        opportunity_kpis.win_rate,
        opportunity_kpis.sales_cycle_days,
        processing_kpis.order_processing_days,
        return_kpis.return_rate,
        complaint_kpis.complaint_first_response_hours,
        crm_kpis.crm_completeness_pct,
        crm_kpis.crm_completeness_target,
        timeliness_kpis.crm_timeliness_pct,
        forecast_kpis.forecast_accuracy,
    {{ scorecard_grid([
        'lead_kpis', 'opportunity_kpis', 'processing_kpis', 'return_kpis', 'complaint_kpis', 'crm_kpis',
        'timeliness_kpis', 'forecast_kpis',
    ]) }}

)

select * from final
