-- Drops that lost rows to quarantine or were rejected, newest first.
select
    drop_date,
    entity_name,
    source_file,
    encoding,
    rows_read,
    rows_loaded,
    rows_quarantined,
    status,
    rejected_reason,
    extra_columns,
from marts.ingest_audit
where rows_quarantined > 0
    or status = 'rejected'
order by drop_date desc, entity_name asc
