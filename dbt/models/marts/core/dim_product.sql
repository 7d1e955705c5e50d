-- The star-schema table of int_products_classified (its comments say how it is built).
with

final as (

    select * from {{ ref('int_products_classified') }}

)

select * from final
