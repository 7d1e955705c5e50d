with

source as (

    select * from {{ source('marketing', 'survey_responses') }}

),

final as (

    select
        response_id,
        account_id,
        contact_id,
        survey_type,
        score,
        responded_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
