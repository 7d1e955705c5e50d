with

campaigns as (

    select * from {{ ref('int_campaigns_converted_to_cny') }}

),

spend as (

    select
        campaign_id,
        sum(spend) as total_spend,
        sum(impressions) as total_impressions,
        sum(clicks) as total_clicks,
    from {{ ref('int_ad_spend_daily_converted_to_cny') }}
    group by campaign_id

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.start_date,
        campaigns.end_date,
        campaigns.budget,
        campaigns.budget_local,
        campaigns.currency,
        coalesce(spend.total_spend, 0) as total_spend,
        coalesce(spend.total_impressions, 0) as total_impressions,
        coalesce(spend.total_clicks, 0) as total_clicks,
    from campaigns
    left join spend
        on campaigns.campaign_id = spend.campaign_id

)

select * from final
