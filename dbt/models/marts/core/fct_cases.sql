-- The star-schema table of int_cases_joined_to_accounts (its comments say how it is built).
with

final as (

    select * from {{ ref('int_cases_joined_to_accounts') }}

)

select * from final
