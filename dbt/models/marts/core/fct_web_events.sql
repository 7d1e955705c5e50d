{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- One row per web event. Incremental on the _loaded_at watermark: a re-delivered or corrected
-- event replaces its earlier row (delete+insert on event_id).
with

web_events as (

    select * from {{ ref('stg_marketing__web_events') }}

),

final as (

    select
        event_id,
        occurred_at,
        cast(occurred_at as date) as event_date,
        cast(strftime(occurred_at, '%Y%m%d') as integer) as event_date_key,
        lead_id,
        anonymous_id,
        event_type,
        page_url,
        utm_source,
        utm_campaign,
        _loaded_at,
    from web_events
    {% if is_incremental() -%}
    where _loaded_at >= (select coalesce(max(_loaded_at), timestamp '1900-01-01') from {{ this }})
    {%- endif %}

)

select * from final
