with

source as (

    select * from {{ source('meta', 'dq_completeness') }}

),

final as (

    select
        run_id,
        checked_at,
        source,
        entity,
        field,
        rows,
        complete_rows,
        completeness,
        target,
        passed,
        status,
        severity,
    from source

)

select * from final
