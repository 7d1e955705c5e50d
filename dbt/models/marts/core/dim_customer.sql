-- One current row per account, from the SCD2 snapshot, with first order and acquisition channel.
with

accounts_history as (

    select * from {{ ref('accounts_snapshot') }}

),

acquisition as (

    select * from {{ ref('int_customers_acquired') }}

),

sales_reps as (

    select * from {{ ref('stg_crm__sales_reps') }}

),

current_accounts as (

    select * from accounts_history
    where dbt_valid_to is null

),

final as (

    select
        current_accounts.account_id,
        current_accounts.account_name,
        current_accounts.industry,
        current_accounts.employee_count,
        current_accounts.region,
        current_accounts.province,
        current_accounts.city,
        current_accounts.owner_rep_id,
        sales_reps.rep_name as owner_rep_name,
        current_accounts.created_at,
        current_accounts.updated_at,
        current_accounts.dbt_valid_from as valid_from,
        current_accounts.dbt_scd_id as account_version_id,
        acquisition.first_order_date,
        acquisition.acquisition_year,
        coalesce(acquisition.acquisition_channel, 'direct') as acquisition_channel,
        acquisition.first_order_date is not null as is_customer,
    from current_accounts
    left join acquisition
        on current_accounts.account_id = acquisition.account_id
    left join sales_reps
        on current_accounts.owner_rep_id = sales_reps.rep_id

)

select * from final
