-- Sales forecast per month x region x product line: open opportunities by expected close month,
-- weighted by their stage's probability (var sales_forecast.stage_probabilities; the contract
-- carries no CRM probability), the commit figure (open deals in var sales_forecast.commit_stages),
-- deals won in the month; forecast = net revenue so far + weighted open pipeline, beside the
-- month's target and the run-rate projection of target_attainment. Revenue that comes without an
-- opportunity (repeat orders) is not forecast for the months ahead: the run-rate covers it. Open deals whose close date has passed (or is missing) are
-- forecast in the as-of month: they are late, not lost. The state is today's: a past month's
-- pipeline is not what it was then (see DECISIONLOG.md, Forecast and team). Empty when
-- opportunities are not delivered (marts.mart_status).
{%- set forecast = var('sales_forecast') %}
with

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

attainment as (

    select * from {{ ref('target_attainment') }}

),

net_revenue as (

    select * from {{ ref('int_net_revenue_by_month_region_line') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

probabilities as (

    select * from (
        values
        {%- for stage, probability in forecast['stage_probabilities'].items() %}
            ('{{ stage }}', {{ probability }}){{ ',' if not loop.last }}
        {%- endfor %}
    )

),

scoped as (

    -- opportunities known at the as-of date: open ones by forecast month, won ones by close month
    select
        opportunities.region,
        opportunities.product_line,
        opportunities.amount,
        opportunities.is_won,
        not opportunities.is_closed as is_open,
        opportunities.stage in (
            {%- for stage in forecast['commit_stages'] %}'{{ stage }}'{{ ', ' if not loop.last }}{% endfor -%}
        ) as is_commit,
        probabilities.stage_probability,
        cast(date_trunc(
            'month',
            case
                when not opportunities.is_closed then greatest(opportunities.close_date, as_of.as_of_date)
                else opportunities.close_date
            end
        ) as date) as month_start_date,
    from opportunities
    cross join as_of
    left join probabilities
        on opportunities.stage = probabilities.stage
    where coalesce(opportunities.created_date <= as_of.as_of_date, true)
        and (not opportunities.is_closed or opportunities.close_date <= as_of.as_of_date)

),

pipeline as (

    select
        month_start_date,
        region,
        product_line,
        count(*) filter (where is_open) as open_opportunities,
        coalesce(sum(amount) filter (where is_open), 0) as open_pipeline_amount,
        coalesce(sum(amount * stage_probability) filter (where is_open), 0) as weighted_pipeline_amount,
        coalesce(sum(amount) filter (where is_open and is_commit), 0) as commit_amount,
        count(*) filter (where is_won) as won_opportunities,
        coalesce(sum(amount) filter (where is_won), 0) as won_amount,
    from scoped
    where is_open or is_won
    group by all

),

cells as (

    select
        month_start_date,
        region,
        product_line
    from pipeline
    union
    select
        month_start_date,
        region,
        product_line
    from attainment
    union
    select
        month_start_date,
        region,
        product_line
    from net_revenue

),

revenue as (

    select
        cells.*,
        case
            when cells.month_start_date <= as_of.as_of_date then coalesce(net_revenue.net_revenue, 0)
        end as actual_revenue,
        cells.month_start_date = cast(date_trunc('month', as_of.as_of_date) as date) as is_as_of_month,
    from cells
    cross join as_of
    left join net_revenue
        on cells.month_start_date = net_revenue.month_start_date
        and cells.region is not distinct from net_revenue.region
        and cells.product_line is not distinct from net_revenue.product_line

),

final as (

    select
        revenue.month_start_date,
        strftime(revenue.month_start_date, '%Y-%m') as year_month,
        year(revenue.month_start_date) || '-Q' || quarter(revenue.month_start_date) as year_quarter,
        revenue.region,
        revenue.product_line,
        coalesce(pipeline.open_opportunities, 0) as open_opportunities,
        coalesce(pipeline.open_pipeline_amount, 0) as open_pipeline_amount,
        coalesce(pipeline.weighted_pipeline_amount, 0) as weighted_pipeline_amount,
        coalesce(pipeline.commit_amount, 0) as commit_amount,
        coalesce(pipeline.won_opportunities, 0) as won_opportunities,
        coalesce(pipeline.won_amount, 0) as won_amount,
        revenue.actual_revenue,
        -- invoiced so far + what the open deals are expected to add (a won deal is in the revenue
        -- once ordered, so won amounts are not added again)
        coalesce(revenue.actual_revenue, 0) + coalesce(pipeline.weighted_pipeline_amount, 0) as forecast_amount,
        coalesce(revenue.actual_revenue, 0) + coalesce(pipeline.commit_amount, 0) as commit_forecast_amount,
        attainment.target_revenue,
        (coalesce(revenue.actual_revenue, 0) + coalesce(pipeline.weighted_pipeline_amount, 0))
        / nullif(attainment.target_revenue, 0) as forecast_attainment_rate,
        attainment.projected_year_end_attainment,
        revenue.is_as_of_month,
    from revenue
    left join pipeline
        on revenue.month_start_date = pipeline.month_start_date
        and revenue.region is not distinct from pipeline.region
        and revenue.product_line is not distinct from pipeline.product_line
    left join attainment
        on revenue.month_start_date = attainment.month_start_date
        and revenue.region = attainment.region
        and revenue.product_line = attainment.product_line
    where {{ mart_inputs_delivered('sales_forecast') }}

)

select * from final
