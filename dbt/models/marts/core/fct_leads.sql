-- The star-schema table of int_leads_joined_to_opportunities (its comments say how it is built).
with

final as (

    select * from {{ ref('int_leads_joined_to_opportunities') }}

)

select * from final
