-- Daily ad spend converted to CNY at the spend date.
with

ad_spend as (

    select * from {{ ref('stg_marketing__ad_spend_daily') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        ad_spend.spend_date,
        ad_spend.campaign_id,
        ad_spend.channel,
        ad_spend.impressions,
        ad_spend.clicks,
        {{ to_cny('ad_spend.spend', 'ad_spend.currency') }} as spend,
        ad_spend.spend as spend_local,
        ad_spend.currency,
        ad_spend._drop_id,
        ad_spend._loaded_at,
    from ad_spend
    {{ fx_join('ad_spend.currency', 'ad_spend.spend_date') }}

)

select * from final
