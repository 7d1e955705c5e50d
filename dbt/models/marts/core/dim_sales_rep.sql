with

sales_reps as (

    select * from {{ ref('stg_crm__sales_reps') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        sales_reps.rep_id,
        sales_reps.rep_name,
        sales_reps.email,
        sales_reps.region,
        sales_reps.team,
        sales_reps.role,
        sales_reps.manager_id,
        managers.rep_name as manager_name,
        sales_reps.hired_date,
        sales_reps.left_date,
        sales_reps.hired_date <= as_of.as_of_date
        and (sales_reps.left_date is null or sales_reps.left_date > as_of.as_of_date) as is_active,
    from sales_reps
    left join sales_reps as managers
        on sales_reps.manager_id = managers.rep_id
    cross join as_of

)

select * from final
