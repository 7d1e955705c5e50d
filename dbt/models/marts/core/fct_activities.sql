{{
    config(
        materialized='incremental',
        unique_key='activity_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- One row per sales touch. Incremental on the _loaded_at watermark (see fct_web_events).
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
        cast(strftime(occurred_at, '%Y%m%d') as integer) as activity_date_key,
        coalesce(is_effective, false) as is_effective,
        _loaded_at,
    from activities
    {% if is_incremental() -%}
    where _loaded_at >= (select coalesce(max(_loaded_at), timestamp '1900-01-01') from {{ this }})
    {%- endif %}

)

select * from final
