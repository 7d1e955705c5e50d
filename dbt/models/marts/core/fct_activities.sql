{{ config(materialized='view') }}
-- One row per sales touch. A view over staging, not a stored copy (see fct_web_events).
with

activities as (

    select * from {{ ref('stg_crm__activities') }}

),

final as (

    select
        activity_id,
        rep_id,
        account_id,
        lead_id,
        opportunity_id,
        activity_type,
        occurred_at,
        cast(occurred_at as date) as activity_date,
        {{ date_key('occurred_at') }} as activity_date_key,
        coalesce(is_effective, false) as is_effective,
        _loaded_at,
    from activities

)

select * from final
