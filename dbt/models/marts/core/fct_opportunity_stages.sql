-- One row per opportunity x stage entered. exited_at = when the next stage was entered;
-- days_in_stage = whole days from entered to exited (open deals: to the as-of date; closed
-- stages: null). advanced = the next stage entered is further along the path (not closed_lost).
-- is_duration_plausible: days_in_stage within var duration_bounds.days_in_stage (averages use only those).
-- Stages entered at the same instant follow stage_order (a stage without one last), then the name,
-- so that the sequence is the same on every run.
with

stage_history as (

    select * from {{ ref('stg_crm__opportunity_stage_history') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_converted_to_cny') }}

),

stages as (

    select * from {{ ref('stage_labels') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

sequenced as (

    select
        stage_history.opportunity_id,
        stage_history.stage,
        stages.stage_order,
        stages.is_closed as is_closed_stage,
        stage_history.entered_at,
        row_number() over (
            partition by stage_history.opportunity_id
            order by stage_history.entered_at, stages.stage_order, stage_history.stage
        ) as stage_sequence,
        lead(stage_history.entered_at) over (
            partition by stage_history.opportunity_id
            order by stage_history.entered_at, stages.stage_order, stage_history.stage
        ) as exited_at,
        lead(stage_history.stage) over (
            partition by stage_history.opportunity_id
            order by stage_history.entered_at, stages.stage_order, stage_history.stage
        ) as next_stage,
        lead(stages.stage_order) over (
            partition by stage_history.opportunity_id
            order by stage_history.entered_at, stages.stage_order, stage_history.stage
        ) as next_stage_order,
    from stage_history
    left join stages
        on stage_history.stage = stages.stage

),

staged as (

    select
        sequenced.opportunity_id,
        sequenced.stage,
        sequenced.stage_order,
        sequenced.stage_sequence,
        sequenced.entered_at,
        {{ date_key('sequenced.entered_at') }} as entered_date_key,
        sequenced.exited_at,
        sequenced.next_stage,
        case
            when sequenced.exited_at is not null
                then date_diff('day', cast(sequenced.entered_at as date), cast(sequenced.exited_at as date))
            when sequenced.is_closed_stage then null
            when coalesce(opportunities.is_closed, false) then null
            else date_diff('day', cast(sequenced.entered_at as date), as_of.as_of_date)
        end as days_in_stage,
        coalesce(sequenced.next_stage_order > sequenced.stage_order, false) as advanced,
        sequenced.exited_at is null and not sequenced.is_closed_stage
        and not coalesce(opportunities.is_closed, false) as is_current_stage,
    from sequenced
    left join opportunities
        on sequenced.opportunity_id = opportunities.opportunity_id
    cross join as_of

),

final as (

    select
        *,
        coalesce({{ plausible_duration('days_in_stage', 'days_in_stage') }}, false) as is_duration_plausible,
    from staged

)

select * from final
