-- The star-schema table of int_survey_responses_joined_to_accounts (its comments say how it is built).
with

final as (

    select * from {{ ref('int_survey_responses_joined_to_accounts') }}

)

select * from final
