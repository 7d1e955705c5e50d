with

source as (

    select * from {{ source('marketing', 'web_events') }}

),

final as (

    select
        event_id,
        occurred_at,
        lead_id,
        anonymous_id,
        event_type,
        page_url,
        utm_source,
        utm_campaign,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
