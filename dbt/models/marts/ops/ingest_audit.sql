-- Ingestion accounting per drop (file), for BI: rows read = loaded + quarantined.
with

audit as (

    select * from {{ ref('stg_meta__ingest_audit') }}

),

final as (

    select
        drop_id,
        source,
        entity,
        source || '.' || entity as entity_name,
        source_file,
        drop_date,
        encoding,
        rows_read,
        rows_loaded,
        rows_quarantined,
        rows_inserted,
        rows_updated,
        rows_superseded,
        rows_read = rows_loaded + rows_quarantined as is_balanced,
        extra_columns,
        status,
        rejected_reason,
        run_id,
        started_at,
        finished_at,
    from audit

)

select * from final
