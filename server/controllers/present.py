"""How stored records look on the wire (plain JSON-ready dicts)."""

from models.money import format_cents
from models.records import Network, Sale, Store, Total, User


def user_json(user: User) -> dict:
    return {"id": user.id, "name": user.name, "cpf": user.cpf, "role": user.role, "active": user.active, "has_pin": user.has_pin,
            "store_ids": list(user.store_ids)}


def network_json(network: Network) -> dict:
    return {"id": network.id, "name": network.name}


def store_json(store: Store) -> dict:
    return {"id": store.id, "name": store.name, "cnpj": store.cnpj, "network": network_json(store.network), "open": store.open}


def sale_json(sale: Sale) -> dict:
    return {
        "sale_id": sale.sale_id,
        "seller_id": sale.seller_id,
        "store_id": sale.store_id,
        "amount": format_cents(sale.amount_cents),
        "sold_on": sale.sold_on.isoformat(),
        "recorded_at": sale.recorded_at,
    }


def total_json(total: Total) -> dict:
    return {"total": format_cents(total.total_cents), "count": total.count, "average": format_cents(total.average_cents)}


def void_json(void, sale: Sale | None, voided_by: User | None) -> dict:
    """A void for audit; `sale` is None on a node the voided sale has not reached yet."""
    return {"sale": sale_json(sale) if sale else {"sale_id": void.sale_id}, "reason": void.reason, "voided_at": void.voided_at,
            "voided_by": {"id": void.voided_by, "name": voided_by.name if voided_by else ""}}
