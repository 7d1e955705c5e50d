-- Per account that ordered or was converted from a lead: first order (not cancelled, up to the
-- as-of date), acquisition year (year of that order) and acquisition channel: the channel of the
-- earliest converted lead pointing at the account; `unknown` when that lead has no channel (or no
-- leads were delivered at all); `direct` when leads were delivered and none converted to it.
-- Orders without an account are not a customer (counted by assert_orders_have_an_account).
with

orders as (

    select * from {{ ref('int_orders_aggregated_from_lines') }}
    where account_id is not null

),

leads as (

    select * from {{ ref('stg_crm__leads') }}

),

first_orders as (

    select
        account_id,
        min(order_date) as first_order_date,
    from orders
    group by account_id

),

converted_leads as (

    select
        converted_account_id as account_id,
        lead_id,
        channel,
        row_number() over (
            partition by converted_account_id
            order by coalesce(converted_at, created_at), created_at, lead_id
        ) as lead_rank,
    from leads
    where converted_account_id is not null

),

lead_channels as (

    select
        account_id,
        coalesce(channel, 'unknown') as acquisition_channel,
        lead_id as acquisition_lead_id,
    from converted_leads
    where lead_rank = 1

),

accounts as (

    select account_id from first_orders
    union
    select account_id from lead_channels

),

final as (

    select
        accounts.account_id,
        first_orders.first_order_date,
        year(first_orders.first_order_date) as acquisition_year,
        case
            when lead_channels.account_id is not null then lead_channels.acquisition_channel
            when {{ delivered(['crm.leads']) }} then 'direct'
            else 'unknown'
        end as acquisition_channel,
        lead_channels.acquisition_lead_id,
    from accounts
    left join first_orders
        on accounts.account_id = first_orders.account_id
    left join lead_channels
        on accounts.account_id = lead_channels.account_id

)

select * from final
