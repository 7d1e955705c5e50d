with

source as (

    select * from {{ source('meta', 'ingest_audit') }}

),

final as (

    select
        drop_id,
        source,
        entity,
        source_file,
        drop_date,
        encoding,
        rows_read,
        rows_loaded,
        rows_quarantined,
        rows_inserted,
        rows_updated,
        rows_superseded,
        extra_columns,
        status,
        rejected_reason,
        run_id,
        started_at,
        finished_at,
    from source

)

select * from final
