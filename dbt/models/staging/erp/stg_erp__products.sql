-- list_price and unit_cost are CNY by contract.
with

source as (

    select * from {{ source('erp', 'products') }}

),

final as (

    select
        sku,
        product_name,
        product_line,
        category,
        is_new_product,
        list_price,
        unit_cost,
        launched_on as launched_date,
        updated_at,
        _drop_id,
        _loaded_at,
    from source

)

select * from final
