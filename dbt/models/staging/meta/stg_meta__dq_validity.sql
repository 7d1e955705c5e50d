with

source as (

    select * from {{ source('meta', 'dq_validity') }}

),

final as (

    select
        run_id,
        checked_at,
        source,
        entity,
        field,
        rule,
        checked_rows,
        failing_rows,
        mostly,
        passed,
    from source

)

select * from final
