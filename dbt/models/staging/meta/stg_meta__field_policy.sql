with

source as (

    select * from {{ source('meta', 'field_policy') }}

),

final as (

    select
        source,
        entity,
        source || '.' || entity as entity_name,
        field,
        is_critical,
        is_delivered,
        is_collected,
        target,
        severity,
        gate_severity,
    from source

)

select * from final
