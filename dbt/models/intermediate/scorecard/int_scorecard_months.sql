-- The scorecard's months, from the first month of any delivered entity a KPI reads (orders,
-- leads, cases, ...: seeds/scorecard_kpis.csv, column inputs) to the as-of month, with their
-- measurement bounds: period_end_date = month end, or the as-of date for the as-of month.
with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

entities as (

    select * from {{ ref('int_entities_delivered') }}

),

kpi_inputs as (

    select distinct unnest(string_split(inputs, ' ')) as entity_name
    from {{ ref('scorecard_kpis') }}
    where inputs is not null and inputs <> ''

),

bounds as (

    select
        least(
            coalesce(
                (
                    select min(entities.first_event_month)
                    from entities
                    inner join kpi_inputs
                        on entities.entity_name = kpi_inputs.entity_name
                    where entities.is_delivered
                ),
                cast(date_trunc('month', as_of.as_of_date) as date)
            ),
            cast(date_trunc('month', as_of.as_of_date) as date)
        ) as first_month,
        cast(date_trunc('month', as_of.as_of_date) as date) as last_month,
        as_of.as_of_date,
    from as_of

),

months as (

    select
        cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as month_start_date,
        as_of_date,
    from bounds

),

final as (

    select
        month_start_date,
        least(cast(month_start_date + interval 1 month - interval 1 day as date), as_of_date) as period_end_date,
        dayofmonth(last_day(month_start_date)) as days_in_month,
        -- Monday-to-Friday days of the month up to the period end
        (
            select count(*)
            from generate_series(
                    month_start_date,
                    least(cast(month_start_date + interval 1 month - interval 1 day as date), as_of_date),
                    interval 1 day
                ) as days (day)
            where isodow(days.day) <= 5
        ) as working_days,
    from months

)

select * from final
