-- The star-schema table of int_regions_labelled (its comments say how it is built).
with

final as (

    select * from {{ ref('int_regions_labelled') }}

)

select * from final
