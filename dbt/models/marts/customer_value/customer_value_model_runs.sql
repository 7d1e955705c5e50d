-- Every fit of the customer value models (forecast and holdout validation), newest first: the trace of
-- every figure in customer_value and customer_value_validation (join on model_run_id).
with

runs as (

    select * from {{ ref('stg_ml__customer_value_model_runs') }}

),

final as (

    select * from runs

)

select * from final
order by fitted_at desc
