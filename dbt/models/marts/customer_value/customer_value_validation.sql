-- Predicted vs actual repeat purchase days in the holdout, by calibration frequency, plus one `all` row
-- with the aggregate error: the BG/NBD model fitted on the history up to as-of - holdout_days, asked to
-- predict the holdout the company then lived. relative_error = (predicted - actual) / actual.
with

buckets as (

    select * from {{ ref('stg_ml__customer_value_holdout') }}

),

runs as (

    select * from {{ ref('stg_ml__customer_value_model_runs') }}

),

rows_by_frequency as (

    select
        model_run_id,
        calibration_frequency,
        frequency_label,
        customers,
        actual_repeat_purchases,
        predicted_repeat_purchases,
    from buckets

),

total as (

    select
        model_run_id,
        cast(null as integer) as calibration_frequency,
        'all' as frequency_label,
        sum(customers) as customers,
        sum(actual_repeat_purchases) as actual_repeat_purchases,
        sum(predicted_repeat_purchases) as predicted_repeat_purchases,
    from buckets
    group by model_run_id

),

stacked as (

    select * from rows_by_frequency
    union all
    select * from total

),

final as (

    select
        stacked.model_run_id,
        runs.as_of_date,
        runs.calibration_end_date,
        runs.holdout_days,
        stacked.calibration_frequency,
        stacked.frequency_label,
        stacked.customers,
        stacked.actual_repeat_purchases,
        stacked.predicted_repeat_purchases,
        round(stacked.actual_repeat_purchases / nullif(stacked.customers, 0), 4) as actual_per_customer,
        round(stacked.predicted_repeat_purchases / nullif(stacked.customers, 0), 4) as predicted_per_customer,
        (stacked.predicted_repeat_purchases - stacked.actual_repeat_purchases)
        / nullif(stacked.actual_repeat_purchases, 0) as relative_error,
        runs.holdout_max_abs_relative_error as max_abs_relative_error,
        case
            when stacked.frequency_label = 'all'
                then abs(
                        (stacked.predicted_repeat_purchases - stacked.actual_repeat_purchases)
                        / nullif(stacked.actual_repeat_purchases, 0)
                    ) <= runs.holdout_max_abs_relative_error
        end as is_within_threshold,
    from stacked
    inner join runs
        on stacked.model_run_id = runs.model_run_id

)

select * from final
