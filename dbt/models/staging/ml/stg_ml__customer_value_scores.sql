-- The customer_value_scores table of the customer value step, as written (schema ml is Python's; dbt publishes it).
with

source as (

    select * from {{ source('ml', 'customer_value_scores') }}

),

final as (

    select * from source

)

select * from final
