-- Opportunities in their current state; the amount in its own currency (CNY:
-- int_opportunities_converted_to_cny).
with

source as (

    select * from {{ source('crm', 'opportunities') }}

),

final as (

    select
        opportunity_id,
        account_id,
        owner_rep_id,
        lead_id,
        opportunity_type,
        product_line,
        amount,
        currency,
        created_at,
        close_date,
        stage,
        is_closed,
        is_won,
        loss_reason,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
