with

source as (

    select * from {{ source('crm', 'leads') }}

),

final as (

    select
        lead_id,
        created_at,
        company_name,
        industry,
        employee_count,
        region,
        channel,
        campaign_id,
        status,
        owner_rep_id,
        converted_at,
        converted_account_id,
        converted_opportunity_id,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
