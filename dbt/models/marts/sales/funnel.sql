-- Two funnels stacked (column `funnel`): the lead funnel (lead -> mql -> sql -> opportunity ->
-- won, each step counted by its own rule) and the opportunity funnel by stage (an opportunity
-- reached a stage if its history holds that stage or a later one on the path). conversion_rate
-- = reached(next step) / reached(step). Opportunity rows also carry days-in-stage statistics
-- (durations outside var duration_bounds.days_in_stage left out).
-- Every deal reached at least the first stage; a deal without stage history reached the stage it
-- is in, and a lost one (closed_lost is no step) the first stage. Each funnel is empty when its
-- entity is not delivered (var funnel_inputs; marts.mart_status says why).
with

leads as (

    select * from {{ ref('fct_leads') }}

),

lead_scores as (

    select * from {{ ref('lead_scores') }}

),

opportunity_stages as (

    select * from {{ ref('fct_opportunity_stages') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

stages as (

    select * from {{ ref('stage_labels') }}

),

lead_steps as (

    select * from {{ ref('lead_funnel_steps') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

scoped_leads as (

    select
        leads.*,
        coalesce(lead_scores.is_mql, false) as is_mql,
    from leads
    left join lead_scores
        on leads.lead_id = lead_scores.lead_id
    cross join as_of
    where coalesce(leads.created_date <= as_of.as_of_date, true)  -- a lead without created_at still counts
        and {{ delivered(var('funnel_inputs')['lead']) }}

),

lead_counts as (

    select
        'lead' as step,
        count(*) as reached_count,
        count(*) as nested_count,
    from scoped_leads
    union all
    select
        'mql' as step,
        count(*) filter (where is_mql) as reached_count,
        count(*) filter (where is_mql) as nested_count,
    from scoped_leads
    union all
    select
        'sql' as step,
        count(*) filter (where is_sql) as reached_count,
        count(*) filter (where is_mql and is_sql) as nested_count,
    from scoped_leads
    union all
    select
        'opportunity' as step,
        count(*) filter (where has_opportunity) as reached_count,
        count(*) filter (where is_mql and is_sql and has_opportunity) as nested_count,
    from scoped_leads
    union all
    select
        'won' as step,
        count(*) filter (where is_won) as reached_count,
        count(*) filter (where is_mql and is_sql and has_opportunity and is_won) as nested_count,
    from scoped_leads

),

lead_funnel as (

    select
        'lead' as funnel,
        lead_steps.step_order,
        lead_steps.step,
        lead_steps.step_name,
        lead_steps.step_name_zh,
        coalesce(lead_counts.reached_count, 0) as reached_count,
        coalesce(lead_counts.nested_count, 0) as nested_count,
        cast(null as bigint) as current_count,
        cast(null as double) as avg_days_in_stage,
        cast(null as double) as median_days_in_stage,
    from lead_steps
    left join lead_counts
        on lead_steps.step = lead_counts.step
    where {{ delivered(var('funnel_inputs')['lead']) }}

),

scoped_opportunities as (

    select opportunities.opportunity_id
    from opportunities
    cross join as_of
    where coalesce(opportunities.created_date <= as_of.as_of_date, true)
        and {{ delivered(var('funnel_inputs')['opportunity']) }}

),

reached_stages as (

    -- the history, plus the current stage in case the history lacks it
    select
        opportunity_stages.opportunity_id,
        opportunity_stages.stage_order,
    from opportunity_stages
    union all
    select
        opportunities.opportunity_id,
        stages.stage_order,
    from opportunities
    inner join stages
        on opportunities.stage = stages.stage

),

furthest_stage as (

    -- at least the first stage: a lost deal without history (closed_lost has no stage order)
    -- reached qualification
    select
        scoped_opportunities.opportunity_id,
        greatest(coalesce(max(reached_stages.stage_order), 1), 1) as max_stage_order,
    from scoped_opportunities
    left join reached_stages
        on scoped_opportunities.opportunity_id = reached_stages.opportunity_id
    group by scoped_opportunities.opportunity_id

),

stage_durations as (

    select
        opportunity_stages.stage,
        avg(opportunity_stages.days_in_stage) filter (where opportunity_stages.is_duration_plausible)
            as avg_days_in_stage,
        median(opportunity_stages.days_in_stage) filter (where opportunity_stages.is_duration_plausible)
            as median_days_in_stage,
        count(*) filter (where opportunity_stages.is_current_stage) as current_count,
    from opportunity_stages
    inner join scoped_opportunities
        on opportunity_stages.opportunity_id = scoped_opportunities.opportunity_id
    group by opportunity_stages.stage

),

opportunity_funnel as (

    select
        'opportunity' as funnel,
        stages.stage_order as step_order,
        stages.stage as step,
        stages.stage_name as step_name,
        stages.stage_name_zh as step_name_zh,
        count(furthest_stage.opportunity_id) as reached_count,
        count(furthest_stage.opportunity_id) as nested_count,
        any_value(coalesce(stage_durations.current_count, 0)) as current_count,
        any_value(stage_durations.avg_days_in_stage) as avg_days_in_stage,
        any_value(stage_durations.median_days_in_stage) as median_days_in_stage,
    from stages
    left join furthest_stage
        on stages.stage_order <= furthest_stage.max_stage_order
    left join stage_durations
        on stages.stage = stage_durations.stage
    where stages.stage_order is not null
        and {{ delivered(var('funnel_inputs')['opportunity']) }}
    group by all

),

unioned as (

    select * from lead_funnel
    union all
    select * from opportunity_funnel

),

final as (

    select
        funnel,
        step_order,
        step,
        step_name,
        step_name_zh,
        reached_count,
        lead(reached_count) over (partition by funnel order by step_order) as next_step_count,
        lead(reached_count) over (partition by funnel order by step_order)
        / nullif(reached_count, 0) as conversion_rate,
        reached_count / nullif(first_value(reached_count) over (partition by funnel order by step_order), 0)
            as conversion_from_start,
        nested_count,
        current_count,
        avg_days_in_stage,
        median_days_in_stage,
    from unioned

)

select * from final
