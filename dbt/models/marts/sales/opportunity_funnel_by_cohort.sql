-- The opportunity funnel by cohort: one row per month the opportunity was created x region (of
-- its account) x channel x product line x stage on the path of seeds/stage_labels.csv. A deal
-- reached a stage when its history or its current stage holds it; every deal reached the first
-- stage (as in marts.funnel: a lost deal without history is counted there). Channel: that of the
-- deal's lead; 'direct' for a deal without a lead when leads are delivered (the channel_group
-- convention), 'unknown' otherwise. Nested and any counts and the nested conversions: macro
-- funnel_by_cohort. Empty when opportunities are not delivered (marts.mart_status).
with

opportunities as (

    select * from {{ ref('int_opportunities_joined_to_accounts') }}

),

stage_history as (

    select * from {{ ref('stg_crm__opportunity_stage_history') }}

),

leads as (

    select * from {{ ref('stg_crm__leads') }}

),

stages as (

    select * from {{ ref('stage_labels') }}
    where stage_order is not null

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

first_stage as (

    select stage
    from stages
    order by stage_order
    limit 1

),

scoped_opportunities as (

    select
        opportunities.opportunity_id as entity_id,
        cast(date_trunc('month', opportunities.created_date) as date) as cohort_month_start_date,
        coalesce(opportunities.region, 'unknown') as region,
        case
            when opportunities.lead_id is null and {{ delivered(['crm.leads']) }} then 'direct'
            else coalesce(leads.channel, 'unknown')
        end as channel,
        coalesce(opportunities.product_line, 'unknown') as product_line,
        opportunities.stage,
    from opportunities
    left join leads
        on opportunities.lead_id = leads.lead_id
    cross join as_of
    where coalesce(opportunities.created_date <= as_of.as_of_date, true)
        and {{ mart_inputs_delivered('opportunity_funnel_by_cohort') }}

),

stages_entered as (

    select
        stage_history.opportunity_id,
        stage_history.stage,
    from stage_history
    union
    select
        entity_id as opportunity_id,
        stage,
    from scoped_opportunities
    union
    select
        scoped_opportunities.entity_id as opportunity_id,
        first_stage.stage,
    from scoped_opportunities
    cross join first_stage

),

opportunity_steps_reached as (

    select
        scoped_opportunities.entity_id,
        scoped_opportunities.cohort_month_start_date,
        scoped_opportunities.region,
        scoped_opportunities.channel,
        scoped_opportunities.product_line,
        stages.stage_order as step_order,
        stages.stage as step,
        stages.stage_name as step_name,
        stages.stage_name_zh as step_name_zh,
        stages_entered.opportunity_id is not null as has_reached,
    from scoped_opportunities
    cross join stages
    left join stages_entered
        on scoped_opportunities.entity_id = stages_entered.opportunity_id
        and stages.stage = stages_entered.stage

),

{{ funnel_by_cohort('opportunity_steps_reached') }}

select * from final
