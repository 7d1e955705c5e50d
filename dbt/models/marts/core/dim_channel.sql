-- Every channel seen in the data or labelled in seeds/channel_labels.csv.
with

labels as (

    select * from {{ ref('channel_labels') }}

),

seen as (

    select channel from {{ ref('stg_crm__leads') }}
    union
    select channel from {{ ref('int_campaigns_converted_to_cny') }}
    union
    select channel from {{ ref('int_ad_spend_daily_converted_to_cny') }}
    union
    select channel from {{ ref('int_sales_orders_converted_to_cny') }}
    union
    select channel from labels

),

final as (

    select
        seen.channel,
        coalesce(labels.channel_name, seen.channel) as channel_name,
        coalesce(labels.channel_name_zh, seen.channel) as channel_name_zh,
        coalesce(labels.channel_group, 'other') as channel_group,
        coalesce(labels.channel_group_zh, '其他') as channel_group_zh,
    from seen
    left join labels
        on seen.channel = labels.channel
    where seen.channel is not null

)

select * from final
