"""No personal data in a node's log at INFO: sign-ins, wrong PINs, sales, registrations and PIN resets name ids only."""

import uuid

from conftest import api_for
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, RawClient

from models.documents import format_cpf


def test_the_log_at_info_holds_no_names_or_cpfs(fresh_server):
    """A seller signs in, records and voids a sale, a wrong PIN is typed, a person registers and a manager resets a PIN:
    neither the people's names nor their CPFs (bare or masked) are in the log."""
    server = fresh_server(env={"LOG_LEVEL": "INFO"})
    seller = api_for(server)
    user = seller.login(DEMO_SELLER_CPF, DEMO_PIN)
    sale_id = str(uuid.uuid4())
    seller.record_sale(sale_id, seller.stores()[0]["id"], 1234)
    seller.void_sale(sale_id, "digitado errado")
    wrong = RawClient(server.port)
    assert wrong.call("auth.login", {"cpf": DEMO_SELLER_CPF, "pin": "9999"})["error"]["code"] == 1003
    wrong.close()
    newcomer = api_for(server)
    newcomer.register("52998224725", "Rafaela Nunes Teixeira", 1990, "2580")
    manager = api_for(server)
    manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
    rafaela = next(u for u in manager.users() if u["cpf"] == "52998224725")
    manager.reset_pin(rafaela["id"], "3691")
    log = server.log()
    assert "sale" in log.lower()  # the log is there and written at INFO
    for secret in (user["name"], "Rafaela Nunes Teixeira", DEMO_SELLER_CPF, format_cpf(DEMO_SELLER_CPF), "52998224725",
                   format_cpf("52998224725"), DEMO_SELLER_CPF[-4:] + " ", "***"):
        assert secret not in log, f"{secret!r} is in the log"
