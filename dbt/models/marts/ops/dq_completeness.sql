-- Completeness of every critical field per run, for BI: the quality step's history (meta), published.
with

completeness as (

    select * from {{ ref('stg_meta__dq_completeness') }}

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
    from completeness

)

select * from final
