-- Order lines with their returns: the base of net revenue and gross margin everywhere.
-- A return without line_no is matched to the order's first line with the same sku. Lines and
-- returns whose order is unknown (orphans) carry no money: net revenue and margin are null.
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

returns as (

    select * from {{ ref('int_returns_converted_to_cny') }}

),

first_line_per_sku as (

    select
        order_id,
        sku,
        min(line_no) as line_no,
    from order_lines
    group by all

),

returns_matched as (

    select
        returns.return_id,
        returns.order_id,
        coalesce(returns.line_no, first_line_per_sku.line_no) as line_no,
        returns.quantity,
        returns.amount,
    from returns
    left join first_line_per_sku
        on returns.order_id = first_line_per_sku.order_id
        and returns.sku = first_line_per_sku.sku

),

returns_per_line as (

    select
        order_id,
        line_no,
        sum(quantity) as returned_quantity,
        sum(amount) as returned_amount,
    from returns_matched
    group by all

),

joined as (

    select
        order_lines.* exclude (is_orphan),
        coalesce(order_lines.is_orphan, false) as is_orphan,
        coalesce(returns_per_line.returned_quantity, 0) as returned_quantity,
        coalesce(returns_per_line.returned_amount, 0) as returned_amount,
        case
            when coalesce(order_lines.is_orphan, false) then null
            when order_lines.is_cancelled then 0
            else order_lines.line_amount - coalesce(returns_per_line.returned_amount, 0)
        end as net_revenue,
        case
            when coalesce(order_lines.is_orphan, false) then null
            when order_lines.is_cancelled then 0
            else (order_lines.quantity - coalesce(returns_per_line.returned_quantity, 0)) * order_lines.unit_cost
        end as net_cost,
    from order_lines
    left join returns_per_line
        on order_lines.order_id = returns_per_line.order_id
        and order_lines.line_no = returns_per_line.line_no

),

final as (

    select
        *,
        net_revenue - net_cost as gross_margin,
    from joined

)

select * from final
