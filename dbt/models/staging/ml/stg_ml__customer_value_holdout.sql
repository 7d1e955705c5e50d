-- The customer_value_holdout table of the customer value step, as written (schema ml is Python's; dbt publishes it).
with

source as (

    select * from {{ source('ml', 'customer_value_holdout') }}

),

final as (

    select * from source

)

select * from final
