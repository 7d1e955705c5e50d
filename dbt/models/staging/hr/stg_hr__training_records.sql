with

source as (

    select * from {{ source('hr', 'training_records') }}

),

final as (

    select
        rep_id,
        course_id,
        course_name,
        completed_on as completed_date,
        nullif(certification_level, '') as certification_level,
        passed as is_passed,
        score,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
