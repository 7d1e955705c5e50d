-- Every region seen in the data, plus `*` (all regions), labelled from seeds/region_labels.csv.
with

labels as (

    select * from {{ ref('region_labels') }}

),

seen as (

    select region from {{ ref('stg_crm__accounts') }}
    union
    select region from {{ ref('stg_crm__sales_reps') }}
    union
    select region from {{ ref('stg_crm__leads') }}
    union
    select region from {{ ref('int_sales_orders_converted_to_cny') }}
    union
    select '*'

),

final as (

    select
        seen.region,
        coalesce(labels.region_name, seen.region) as region_name,
        coalesce(labels.region_name_zh, seen.region) as region_name_zh,
        coalesce(labels.sort_order, 99) as sort_order,
        seen.region = '*' as is_all_regions,
    from seen
    left join labels
        on seen.region = labels.region
    where seen.region is not null

)

select * from final
