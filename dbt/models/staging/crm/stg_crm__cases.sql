with

source as (

    select * from {{ source('crm', 'cases') }}

),

final as (

    select
        case_id,
        account_id,
        category,
        priority,
        opened_at,
        first_response_at,
        resolved_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
