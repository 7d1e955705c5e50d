-- Forecast accuracy per month x region (and `*` = all regions): the weighted pipeline forecast for
-- the month as it stood at the month's start (int_opportunities_forecast_at_month_start: deals open
-- then, expected to close in the month or late, x var sales_forecast.stage_probabilities) against the
-- CRM amount won in the month (CNY). Error, bias and accuracy by the macros of macros/forecast.sql;
-- reconstruction_basis says whether the amounts and close dates are those of the snapshot or today's.
-- Empty when opportunities are not delivered (marts.mart_status).
with

opportunity_months as (

    select * from {{ ref('int_opportunities_forecast_at_month_start') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

cells as (

    select
        month_start_date,
        {{ scorecard_region_key() }} as region,
        count(*) filter (where is_in_forecast) as forecast_opportunities,
        sum(weighted_amount) as forecast_amount_cny,
        count(*) filter (where is_won_in_month) as won_opportunities,
        sum(won_amount) as actual_won_cny,
        count(*) filter (where stage_basis = 'stage_history') as stages_from_history,
        count(*) filter (where stage_basis = 'snapshot') as stages_from_snapshot,
        count(*) filter (where stage_basis = 'current') as stages_current,
        count(*) filter (where stage_basis = 'unknown') as stages_unknown,
        count(*) filter (where amount_basis = 'snapshot') as amounts_from_snapshot,
        count(*) filter (where amount_basis = 'current') as amounts_current,
    from opportunity_months
    group by {{ scorecard_grouping('month_start_date') }}
    having month_start_date is not null

),

final as (

    select
        cells.month_start_date,
        strftime(cells.month_start_date, '%Y-%m') as year_month,
        cells.region,
        cells.forecast_opportunities,
        cells.forecast_amount_cny,
        cells.won_opportunities,
        cells.actual_won_cny,
        {{ absolute_pct_error('cells.forecast_amount_cny', 'cells.actual_won_cny') }} as absolute_pct_error,
        {{ ratio('cells.forecast_amount_cny - cells.actual_won_cny', 'cells.actual_won_cny') }} as bias,
        {{ forecast_accuracy('cells.forecast_amount_cny', 'cells.actual_won_cny') }} as forecast_accuracy,
        case when cells.amounts_current > 0 then 'reconstructed' else 'snapshot' end as reconstruction_basis,
        cells.stages_from_history,
        cells.stages_from_snapshot,
        cells.stages_current,
        cells.stages_unknown,
        cells.amounts_from_snapshot,
        cells.amounts_current,
        cells.month_start_date = cast(date_trunc('month', as_of.as_of_date) as date) as is_as_of_month,
    from cells
    cross join as_of
    where {{ mart_inputs_delivered('forecast_accuracy') }}

)

select * from final
