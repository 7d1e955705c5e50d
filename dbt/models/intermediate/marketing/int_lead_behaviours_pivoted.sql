-- Per identified lead: which scored behaviours it showed up to the as-of date (each once).
with

web_events as (

    select * from {{ ref('stg_marketing__web_events') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        web_events.lead_id,
        bool_or(web_events.event_type = 'whitepaper_download') as has_whitepaper_download,
        bool_or(web_events.event_type = 'webinar_attended') as has_webinar_attended,
        bool_or(web_events.event_type = 'pricing_page_view') as has_pricing_page_view,
        count(*) as events,
    from web_events
    cross join as_of
    where web_events.lead_id is not null
        and cast(web_events.occurred_at as date) <= as_of.as_of_date
    group by web_events.lead_id

)

select * from final
