with

cases as (

    select * from {{ ref('stg_crm__cases') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

final as (

    select
        cases.case_id,
        cases.account_id,
        accounts.region,
        cases.category,
        cases.priority,
        cases.opened_at,
        cast(cases.opened_at as date) as opened_date,
        {{ date_key('cases.opened_at') }} as opened_date_key,
        cases.first_response_at,
        cases.resolved_at,
        date_diff('second', cases.opened_at, cases.first_response_at) / 3600.0 as first_response_hours,
        coalesce({{ plausible_duration(
            "date_diff('second', cases.opened_at, cases.first_response_at) / 3600.0", 'first_response_hours'
        ) }}, false) as is_first_response_plausible,
        date_diff('second', cases.opened_at, cases.resolved_at) / 3600.0 as resolution_hours,
        cases.resolved_at is null as is_open,
    from cases
    left join accounts
        on cases.account_id = accounts.account_id

)

select * from final
