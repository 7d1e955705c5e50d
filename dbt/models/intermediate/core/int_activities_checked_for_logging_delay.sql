-- Sales touches with how long after the touch the CRM recorded them (created_at - occurred_at) and
-- whether that was on time (var crm_timeliness.max_logging_delay_hours), with the rep's region.
-- The one rule behind the scorecard's crm_timeliness_pct and rep_performance's timeliness.
-- A touch logged ahead (created before it happened: a planned meeting) is on time; one without
-- created_at (the export does not carry it) is not judged (null), so that a company that never
-- delivers the column reads "no data", not 0% or 100%. See DECISIONLOG.md, CRM timeliness.
-- A view, not a table: its two readers aggregate it by month and read only a few columns, which
-- costs them no more than reading a stored copy, and storing one meant writing every touch again
-- on every run (15.5 M rows at scale 10: 7.5 s of a new day's dbt build). DECISIONLOG.md, Layers.
{{ config(materialized='view') }}
with

activities as (

    select * from {{ ref('stg_crm__activities') }}

),

reps as (

    select * from {{ ref('stg_crm__sales_reps') }}

),

final as (

    select
        activities.activity_id,
        activities.rep_id,
        reps.region,
        activities.occurred_at,
        cast(activities.occurred_at as date) as activity_date,
        activities.created_at,
        date_diff('second', activities.occurred_at, activities.created_at) / 3600.0 as logging_delay_hours,
        date_diff('second', activities.occurred_at, activities.created_at) / 3600.0
        <= {{ var('crm_timeliness')['max_logging_delay_hours'] }} as is_logged_on_time,
    from activities
    left join reps
        on activities.rep_id = reps.rep_id

)

select * from final
