with

source as (

    select * from {{ source('crm', 'opportunity_stage_history') }}

),

final as (

    select
        opportunity_id,
        stage,
        entered_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
