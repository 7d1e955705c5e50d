{{ config(materialized='view') }}
-- One row per web event. A view over staging (one row per key: ingestion replaces a re-delivered or
-- corrected event), not a stored copy: its tests (and fct_activities' one reader) cost the same on the
-- view, and the BI snapshot stores the published copy. Writing 9.4 M + 15.5 M rows again (with fct_activities)
-- was 13.5 s of a full dbt build at scale 10 (dbt/DECISIONLOG.md, Performance).
with

web_events as (

    select * from {{ ref('stg_marketing__web_events') }}

),

final as (

    select
        event_id,
        occurred_at,
        cast(occurred_at as date) as event_date,
        {{ date_key('occurred_at') }} as event_date_key,
        lead_id,
        anonymous_id,
        event_type,
        page_url,
        utm_source,
        utm_campaign,
        _loaded_at,
    from web_events

)

select * from final
