-- The customer_value_model_runs table of the customer value step, as written (schema ml is Python's; dbt publishes it).
with

source as (

    select * from {{ source('ml', 'customer_value_model_runs') }}

),

final as (

    select * from source

)

select * from final
