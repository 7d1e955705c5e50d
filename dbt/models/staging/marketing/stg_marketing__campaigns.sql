-- Budget converted to CNY at the start date.
with

source as (

    select * from {{ source('marketing', 'campaigns') }}

),

{{ fx_rate_ctes() }}

final as (

    select
        source.campaign_id,
        source.campaign_name,
        source.channel,
        source.start_date,
        source.end_date,
        {{ to_cny('source.budget', 'source.currency') }} as budget,
        source.budget as budget_local,
        source.currency,
        source._drop_id,
        source._loaded_at,
    from source
    {{ fx_join('source.currency', 'source.start_date') }}

)

select * from final
