with

responses as (

    select * from {{ ref('stg_marketing__survey_responses') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

final as (

    select
        responses.response_id,
        responses.account_id,
        accounts.region,
        responses.contact_id,
        responses.survey_type,
        responses.score,
        responses.responded_at,
        cast(responses.responded_at as date) as responded_date,
        {{ date_key('responses.responded_at') }} as responded_date_key,
        case
            when responses.survey_type != 'nps' then null
            when responses.score >= 9 then 'promoter'
            when responses.score >= 7 then 'passive'
            else 'detractor'
        end as nps_category,
    from responses
    left join accounts
        on responses.account_id = accounts.account_id

)

select * from final
