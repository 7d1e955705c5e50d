with

source as (

    select * from {{ source('marketing', 'ad_spend_daily') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        source.spend_date,
        source.campaign_id,
        source.channel,
        source.impressions,
        source.clicks,
        {{ to_cny('source.spend', 'source.currency') }} as spend,
        source.spend as spend_local,
        source.currency,
        source._drop_id,
        source._loaded_at,
    from source
    {{ fx_join('source.currency', 'source.spend_date') }}

)

select * from final
