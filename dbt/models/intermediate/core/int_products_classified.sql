with

products as (

    select * from {{ ref('stg_erp__products') }}

),

final as (

    select
        sku,
        product_name,
        product_line,
        category,
        coalesce(is_new_product, false) as is_new_product,
        list_price,
        unit_cost,
        case when list_price > 0 then (list_price - unit_cost) / list_price end as list_margin_pct,
        coalesce(
            (list_price - unit_cost) / nullif(list_price, 0) >= {{ var('high_margin_min_pct') }}, false
        ) as is_high_margin,
        launched_date,
        updated_at,
    from products

)

select * from final
