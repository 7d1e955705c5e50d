with

source as (

    select * from {{ source('crm', 'accounts') }}

),

final as (

    select
        account_id,
        account_name,
        industry,
        employee_count,
        region,
        province,
        city,
        owner_rep_id,
        payment_terms_days,
        created_at,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
