-- The star-schema table of int_payments_joined_to_orders (its comments say how it is built).
with

final as (

    select * from {{ ref('int_payments_joined_to_orders') }}

)

select * from final
