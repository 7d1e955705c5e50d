-- Fails for every drop whose rows read differ from rows loaded + rows quarantined (nothing may be
-- lost or counted twice between the extract and the warehouse).
select *
from {{ ref('ingest_audit') }}
where not is_balanced
