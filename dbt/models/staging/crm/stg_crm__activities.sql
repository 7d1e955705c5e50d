with

source as (

    select * from {{ source('crm', 'activities') }}

),

final as (

    select
        activity_id,
        rep_id,
        account_id,
        lead_id,
        opportunity_id,
        activity_type,
        occurred_at,
        created_at,
        is_effective,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
