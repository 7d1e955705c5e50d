with

spend as (

    select * from {{ ref('int_ad_spend_daily_converted_to_cny') }}

),

final as (

    select
        spend_date,
        {{ date_key('spend_date') }} as spend_date_key,
        campaign_id,
        channel,
        impressions,
        clicks,
        spend,
        spend_local,
        currency,
    from spend

)

select * from final
