with

source as (

    select * from {{ source('crm', 'contacts') }}

),

final as (

    select
        contact_id,
        account_id,
        full_name,
        title,
        email,
        phone,
        created_at,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
