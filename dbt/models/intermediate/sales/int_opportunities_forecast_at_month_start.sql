-- Each month's forecast as it stood at the month's start, per opportunity, beside the deals won in
-- the month (one row per month x opportunity in either). In the forecast: deals created before the
-- month start and still open then, whose expected close date (as it stood) falls in the month or
-- before it (late deals are forecast in the current month, as sales_forecast does), weighted by
-- the stage they were in at the month start. What stood then is read, in this order:
--   stage:                 stage history (the stage entered last before the month start), else
--                          the opportunities_snapshot version valid then, else today's stage
--                          (unknown, so weight 0, for a deal closed since);
--   amount and close date: the snapshot version valid then, else today's values.
-- Months before the snapshot's first run are therefore reconstructed (DECISIONLOG.md).
with

opportunities as (

    select * from {{ ref('int_opportunities_joined_to_accounts') }}

),

stage_history_rows as (

    select * from {{ ref('stg_crm__opportunity_stage_history') }}

),

opportunity_versions as (

    select * from {{ ref('opportunities_snapshot') }}

),

months as (

    select * from {{ ref('int_scorecard_months') }}

),

stages as (

    select * from {{ ref('stage_labels') }}

),

probabilities as (

    select * from {{ stage_probability_values() }}

),

stage_history as (

    -- one stage per opportunity and instant: of stages entered at the same time, the one that
    -- fct_opportunity_stages sequences last (by stage_order, an unlisted stage after, then by name).
    -- The as-of join below picks any one of tied rows, so ties made the forecast vary by run.
    select
        stage_history_rows.opportunity_id,
        stage_history_rows.entered_at,
        arg_max(
            stage_history_rows.stage,
            row(stages.stage_order is null, coalesce(stages.stage_order, 0), stage_history_rows.stage)
        ) as stage,
    from stage_history_rows
    left join stages
        on stage_history_rows.stage = stages.stage
    group by stage_history_rows.opportunity_id, stage_history_rows.entered_at

),

closed_stages as (

    -- distinct: a stage listed twice in the labels must not repeat a deal below
    select distinct stage from stages
    where is_closed

),

closed_for_good as (

    -- when a deal's stage history last moved, into a closed stage: at every later month start the
    -- history gives that stage (it comes first, below), so the forecast has no row for those months.
    -- They are left out before the as-of joins, which otherwise walk every deal through every month
    -- since it was created (at scale 10, ~2.3 M rows for ~0.1 M kept).
    select
        last_moves.opportunity_id,
        last_moves.entered_at as closed_at,
    from (
        select
            opportunity_id,
            max(entered_at) as entered_at,
            -- the last move's stage even when it is null (arg_max would skip to an earlier move)
            arg_max_null(stage, entered_at) as stage,
        from stage_history
        group by opportunity_id
    ) as last_moves
    inner join closed_stages
        on last_moves.stage = closed_stages.stage

),

{{ fx_rate_ctes() }}

versions_in_cny as (

    select
        opportunity_versions.opportunity_id,
        opportunity_versions.dbt_valid_from,
        opportunity_versions.dbt_valid_to,
        opportunity_versions.stage,
        {{ to_cny('opportunity_versions.amount', 'opportunity_versions.currency') }} as amount,
        opportunity_versions.close_date,
    from opportunity_versions
    {{ fx_join('opportunity_versions.currency', 'opportunity_versions.close_date') }}

),

month_starts as (

    -- every opportunity in every month it was created before, but the months after it closed for good
    select
        months.month_start_date,
        cast(months.month_start_date as timestamp) as month_start_at,
        opportunities.opportunity_id,
        opportunities.region,
        opportunities.amount,
        opportunities.close_date,
        opportunities.stage,
        opportunities.is_closed,
    from opportunities
    inner join months
        on opportunities.created_at < months.month_start_date
    left join closed_for_good
        on opportunities.opportunity_id = closed_for_good.opportunity_id
    where closed_for_good.closed_at is null
        or cast(months.month_start_date as timestamp) <= closed_for_good.closed_at

),

stage_at_start as (

    select
        month_starts.*,
        stage_history.stage as history_stage,
    from month_starts
    asof left join stage_history
        on month_starts.opportunity_id = stage_history.opportunity_id
        and month_starts.month_start_at > stage_history.entered_at

),

version_at_start as (

    select
        stage_at_start.*,
        versions_in_cny.stage as version_stage,
        versions_in_cny.amount as version_amount,
        versions_in_cny.close_date as version_close_date,
        versions_in_cny.opportunity_id is not null
        and coalesce(versions_in_cny.dbt_valid_to > stage_at_start.month_start_at, true) as has_version,
    from stage_at_start
    asof left join versions_in_cny
        on stage_at_start.opportunity_id = versions_in_cny.opportunity_id
        and stage_at_start.month_start_at >= versions_in_cny.dbt_valid_from

),

as_it_stood as (

    select
        version_at_start.month_start_date,
        version_at_start.opportunity_id,
        version_at_start.region,
        case
            when version_at_start.history_stage is not null then 'stage_history'
            when version_at_start.has_version then 'snapshot'
            when not version_at_start.is_closed then 'current'
            when version_at_start.close_date < version_at_start.month_start_date then 'current'
            else 'unknown'
        end as stage_basis,
        case
            when version_at_start.history_stage is not null then version_at_start.history_stage
            when version_at_start.has_version then version_at_start.version_stage
            when not version_at_start.is_closed then version_at_start.stage
            when version_at_start.close_date < version_at_start.month_start_date then version_at_start.stage
        end as stage_at_month_start,
        -- without history or snapshot, a deal closed before the month start is closed then
        coalesce(
            version_at_start.history_stage is null
            and not version_at_start.has_version
            and version_at_start.is_closed
            and version_at_start.close_date < version_at_start.month_start_date,
            false
        ) as is_closed_before_start,
        case when version_at_start.has_version then 'snapshot' else 'current' end as amount_basis,
        case
            when version_at_start.has_version then version_at_start.version_amount else version_at_start.amount
        end as amount,
        case
            when version_at_start.has_version then version_at_start.version_close_date
            else version_at_start.close_date
        end as expected_close_date,
    from version_at_start

),

forecast as (

    select
        as_it_stood.month_start_date,
        as_it_stood.opportunity_id,
        as_it_stood.region,
        as_it_stood.stage_at_month_start,
        as_it_stood.stage_basis,
        as_it_stood.amount_basis,
        as_it_stood.amount,
        as_it_stood.expected_close_date,
        coalesce(probabilities.stage_probability, 0) as stage_probability,
        as_it_stood.amount * coalesce(probabilities.stage_probability, 0) as weighted_amount,
    from as_it_stood
    left join stages
        on as_it_stood.stage_at_month_start = stages.stage
    left join probabilities
        on as_it_stood.stage_at_month_start = probabilities.stage
    where not as_it_stood.is_closed_before_start
        and not coalesce(stages.is_closed, false)
        -- expected to close in the month, or late (or without a date): forecast now
        and coalesce(as_it_stood.expected_close_date < as_it_stood.month_start_date + interval 1 month, true)

),

won as (

    select
        months.month_start_date,
        opportunities.opportunity_id,
        opportunities.region,
        opportunities.amount as won_amount,
    from opportunities
    inner join months
        on opportunities.close_date between months.month_start_date and months.period_end_date
    where opportunities.is_won

),

final as (

    select
        coalesce(forecast.month_start_date, won.month_start_date) as month_start_date,
        coalesce(forecast.opportunity_id, won.opportunity_id) as opportunity_id,
        coalesce(forecast.region, won.region) as region,
        forecast.opportunity_id is not null as is_in_forecast,
        forecast.stage_at_month_start,
        forecast.stage_basis,
        forecast.amount_basis,
        forecast.amount,
        forecast.expected_close_date,
        forecast.stage_probability,
        coalesce(forecast.weighted_amount, 0) as weighted_amount,
        won.opportunity_id is not null as is_won_in_month,
        coalesce(won.won_amount, 0) as won_amount,
    from forecast
    full outer join won
        on forecast.month_start_date = won.month_start_date
        and forecast.opportunity_id = won.opportunity_id

)

select * from final
