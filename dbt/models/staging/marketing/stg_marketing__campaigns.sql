-- Campaigns; the budget in its own currency (CNY: int_campaigns_converted_to_cny).
with

source as (

    select * from {{ source('marketing', 'campaigns') }}

),

final as (

    select
        campaign_id,
        campaign_name,
        channel,
        start_date,
        end_date,
        budget,
        currency,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
