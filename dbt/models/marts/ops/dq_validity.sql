-- Value rules of every entity per run, for BI: the quality step's history (meta), published.
with

validity as (

    select * from {{ ref('stg_meta__dq_validity') }}

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
    from validity

)

select * from final
