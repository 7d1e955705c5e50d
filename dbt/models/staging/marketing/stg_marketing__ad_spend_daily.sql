-- Daily spend per campaign in its own currency (CNY: int_ad_spend_daily_converted_to_cny).
with

source as (

    select * from {{ source('marketing', 'ad_spend_daily') }}

),

final as (

    select
        spend_date,
        campaign_id,
        channel,
        impressions,
        clicks,
        spend,
        currency,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
