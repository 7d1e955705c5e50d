with

source as (

    select * from {{ source('crm', 'sales_reps') }}

),

final as (

    select
        rep_id,
        rep_name,
        email,
        region,
        team,
        role,
        manager_id,
        hired_on as hired_date,
        left_on as left_date,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
