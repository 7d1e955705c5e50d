-- Campaign budgets converted to CNY at the start date.
with

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.start_date,
        campaigns.end_date,
        {{ to_cny('campaigns.budget', 'campaigns.currency') }} as budget,
        campaigns.budget as budget_local,
        campaigns.currency,
        campaigns._drop_id,
        campaigns._loaded_at,
    from campaigns
    {{ fx_join('campaigns.currency', 'campaigns.start_date') }}

)

select * from final
