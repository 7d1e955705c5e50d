with

source as (

    select * from {{ source('erp', 'fx_rates') }}

),

final as (

    select
        rate_date,
        upper(currency) as currency,
        cny_per_unit,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
