-- Sales touches counted per rep x day (with the rep's region): all of them, the effective ones, and
-- those judged for CRM timeliness and logged on time (int_activities_checked_for_logging_delay's
-- rule). The scorecard's internal-process and learning-growth KPIs and marts.rep_performance read
-- these counts: one pass over the touches (15.5 M at scale 10) for the three, where each made its
-- own (DECISIONLOG.md, Layers).
with

activities as (

    select * from {{ ref('int_activities_checked_for_logging_delay') }}

),

final as (

    select
        rep_id,
        region,
        activity_date,
        count(*) as touches,
        -- an unknown is_effective is no effective touch
        count(*) filter (where is_effective) as effective_touches,
        count(*) filter (where is_logged_on_time) as touches_logged_on_time,
        count(is_logged_on_time) as touches_with_created_at,
    from activities
    group by rep_id, region, activity_date

)

select * from final
