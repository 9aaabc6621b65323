"""A till with every node down (client/offline.py): sellers who signed in here lately sign in against the PIN verifier
kept on the till and sell into the queue; the queued sales go out exactly once when a server is back; a wrong PIN,
or a seller the till does not know, queues nothing; the store list cached at any contact names a store by CNPJ or
name; pending sales are said on leaving and when they are sent. Real server and client processes."""

import os
import stat

import pytest
from conftest import api_for
from support import (
    DEMO_MANAGER_CPF,
    DEMO_PIN,
    DEMO_SELLER2_CPF,
    DEMO_SELLER_CPF,
    InteractiveClient,
    free_port,
    queued_sale_ids,
    run_client,
    wait_until,
)

from client.offline import OFFLINE_MAX_FAILURES, OfflineRefused, Till, offline_path
from runtime.clock import FakeClock

QUICK = {"CLIENT_FAILOVER_TIMEOUT_MS": "1000"}  # with every node down, each try gives up after 1 s
MAX_CENTRO_CNPJ = "11.223.444/0001-02"  # a demo store (11223444000102)


def till_of(queue_path) -> Till:
    return Till(offline_path(queue_path), 24)


def server_sales(server) -> dict:
    return server.sales_digest()


def signed_in_client(server, queue) -> InteractiveClient:
    """The till's client with the demo seller signed in while the server is up (the till keeps a verifier and the store
    list), at the menu."""
    client = InteractiveClient(server.cluster, queue, env=QUICK)
    client.type(DEMO_SELLER_CPF, DEMO_PIN)
    client.wait_for("O que deseja fazer?")
    return client


def sign_in_and_leave(server, queue) -> None:
    client = signed_in_client(server, queue)
    client.type("7", "sair")
    assert client.finish() == 0


def reset_pin(server, cpf: str, pin: str) -> str:
    """A manager sets a person's PIN (the till is not told); the person's id."""
    manager = api_for(server)
    try:
        manager.login(DEMO_MANAGER_CPF, DEMO_PIN)
        person_id = next(u["id"] for u in manager.users() if u["cpf"] == cpf)
        manager.reset_pin(person_id, pin)
        return person_id
    finally:
        manager.connection.close()


def test_with_every_node_down_a_seller_who_signed_in_here_sells_into_the_queue_and_the_sales_go_out_once(fresh_server, tmp_path):
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"
    sign_in_and_leave(server, queue)
    verifiers = offline_path(queue)
    assert stat.S_IMODE(os.stat(verifiers).st_mode) == 0o600, "the PIN verifiers are readable only by their owner"
    before = server_sales(server)
    server.kill9()

    client = InteractiveClient(server.cluster, queue, env=QUICK)
    client.type(DEMO_SELLER_CPF, "9999")  # a wrong PIN is refused on the till too
    client.wait_for("PIN incorreto")
    client.type(DEMO_SELLER_CPF, DEMO_PIN)
    client.wait_for("Entrada conferida neste caixa, sem servidor")
    client.wait_for("O que deseja fazer?")
    client.type("1", "5", "25,00", "s")
    client.wait_for("Venda guardada")
    client.type("1", "6", "3,10", "s")
    client.wait_for("Venda guardada", count=2)
    screen = client.wait_for("Vendas pendentes (2)")
    assert "(2 pendentes)" in screen
    queued = queued_sale_ids(queue)
    assert len(queued) == 2
    client.type("2")  # today's sales with no server: said so, and the sales waiting on this till are listed
    screen = client.wait_for("aguardando envio", count=2)
    assert "Sem servidor no momento" in screen and "R$ 25,00" in screen and "R$ 3,10" in screen, screen

    server.start()  # the server is back: the session signs in for real before its next menu and sends the sales
    client.type("4")
    client.wait_for("Servidor de volta")
    client.wait_for("** 2 vendas pendentes enviadas.")
    client.wait_for("Vendas pendentes (0)")
    assert queued_sale_ids(queue) == []
    after = server_sales(server)
    assert after["ids"] - before["ids"] == set(queued)
    assert after["rows"] == before["rows"] + 2, "each queued sale is recorded exactly once"
    client.type("7", "sair")
    assert client.finish() == 0
    # a later start sends nothing again
    run_client(["stores"], server.port, queue_path=queue)
    assert server_sales(server)["rows"] == before["rows"] + 2


def test_an_option_that_needs_the_server_chosen_after_it_came_back_signs_in_and_runs(fresh_server, tmp_path):
    """A session begun with no server, the menu drawn before the server came back: "Minhas vendas de hoje" signs in for
    real and shows the sales (it said there was no server, and the seller had to choose again)."""
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"
    sign_in_and_leave(server, queue)
    server.kill9()
    client = InteractiveClient(server.cluster, queue, env=QUICK)
    client.type(DEMO_SELLER_CPF, DEMO_PIN)
    client.wait_for("Entrada conferida neste caixa, sem servidor")
    client.wait_for("O que deseja fazer?")
    server.start()
    client.type("2")
    screen = client.wait_for("Suas vendas em")
    assert "Servidor de volta" in screen and "Sem servidor no momento" not in screen, screen
    client.type("7", "sair")
    assert client.finish() == 0


def test_leaving_with_sales_pending_says_how_many_and_the_next_start_says_they_were_sent(fresh_server, tmp_path):
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"
    client = signed_in_client(server, queue)
    server.kill9()  # signed in with a server up; then every node goes down
    client.type("1", "5", "10,00", "s")
    client.wait_for("Venda guardada: será enviada quando o servidor voltar (1 pendente)")
    client.type("7")
    screen = client.wait_for("Sessão encerrada")
    assert "1 venda pendente deste CPF ainda não foi enviada" in screen
    client.type("sair")
    screen = client.wait_for("Até logo!")
    assert "Atenção: 1 venda pendente neste caixa ainda não foi enviada" in screen
    assert client.finish() == 0
    (queued,) = queued_sale_ids(queue)

    server.start()
    client = InteractiveClient(server.cluster, queue, env=QUICK)
    client.wait_for("** 1 venda pendente enviada.")  # sent at start with the token it was queued with, and said
    client.type("sair")
    assert client.finish() == 0
    assert queued_sale_ids(queue) == []
    assert queued in server_sales(server)["ids"]


def test_script_sale_with_no_server_queues_only_for_a_seller_the_till_can_check(fresh_server, tmp_path):
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"

    def sale(cpf: str, pin: str, store: str, amount: str = "10,50"):
        return run_client(["sale", "--store", store, "--amount", amount], server.port, queue_path=queue,
                          env={**QUICK, "ONSELL_CPF": cpf, "ONSELL_PIN": pin})

    online = sale(DEMO_SELLER_CPF, DEMO_PIN, MAX_CENTRO_CNPJ, "1,00")
    assert online.returncode == 0, online.stderr
    server.kill9()

    wrong = sale(DEMO_SELLER_CPF, "0001", MAX_CENTRO_CNPJ)
    assert (wrong.returncode, queued_sale_ids(queue)) == (1, []), wrong.stderr
    assert "PIN incorreto" in wrong.stderr
    unknown_here = sale(DEMO_SELLER2_CPF, DEMO_PIN, MAX_CENTRO_CNPJ)  # never signed in on this till
    assert (unknown_here.returncode, queued_sale_ids(queue)) == (1, []), unknown_here.stderr
    assert "só entra quem já entrou neste caixa" in unknown_here.stderr

    by_cnpj = sale(DEMO_SELLER_CPF, DEMO_PIN, MAX_CENTRO_CNPJ)
    assert by_cnpj.returncode == 4, by_cnpj.stderr
    by_name = sale(DEMO_SELLER_CPF, DEMO_PIN, "max atacado sul", "2,00")
    assert by_name.returncode == 4, by_name.stderr
    queued = queued_sale_ids(queue)
    assert len(queued) == 2

    server.start()
    later = sale(DEMO_SELLER_CPF, DEMO_PIN, MAX_CENTRO_CNPJ, "3,00")
    assert later.returncode == 0, later.stderr
    assert "2 vendas pendentes enviadas" in later.stderr
    assert queued_sale_ids(queue) == []
    assert set(queued) <= server_sales(server)["ids"]


def test_the_store_list_is_cached_at_any_contact_by_any_role(fresh_server, tmp_path):
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"
    report = run_client(["report", "best-store"], server.port, queue_path=queue,
                        env={"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN})
    assert report.returncode == 0, report.stderr
    till = till_of(queue)
    try:
        stores = till.stores()
        assert stores is not None and "11223444000102" in {s["cnpj"] for s in stores}
        assert not till.has_verifier(DEMO_MANAGER_CPF), "only sellers may sign in with no server"
    finally:
        till.close()


def test_a_pin_changed_meanwhile_removes_the_verifier_and_keeps_the_sales(fresh_server, tmp_path):
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"
    client = signed_in_client(server, queue)
    till = till_of(queue)
    try:
        assert till.has_verifier(DEMO_SELLER_CPF)
        reset_pin(server, DEMO_SELLER_CPF, "2580")
        client.type("2")  # the session's token is refused now (credentials_changed): the till forgets the verifier
        client.wait_for("CPF:", count=2)
        wait_until(lambda: not till.has_verifier(DEMO_SELLER_CPF), timeout=10, what="the verifier to be removed")
        client.type("sair")
        assert client.finish() == 0

        # signed in again with the new PIN: a verifier for it; then the PIN changes again and every node goes down
        signed_in_by_script = run_client(["sales"], server.port, queue_path=queue,
                                            env={"ONSELL_CPF": DEMO_SELLER_CPF, "ONSELL_PIN": "2580"})
        assert signed_in_by_script.returncode == 0, signed_in_by_script.stderr
        assert till.has_verifier(DEMO_SELLER_CPF)
        reset_pin(server, DEMO_SELLER_CPF, "3691")
        server.kill9()
        queued = run_client(["sale", "--store", MAX_CENTRO_CNPJ, "--amount", "4,00"], server.port, queue_path=queue,
                            env={**QUICK, "ONSELL_CPF": DEMO_SELLER_CPF, "ONSELL_PIN": "2580"})
        assert queued.returncode == 4, queued.stderr  # the till cannot know yet: the sale waits, with no token
        (sale_id,) = queued_sale_ids(queue)

        server.start()  # the old PIN is refused: the verifier goes, the sale stays and the seller is told
        refused = run_client(["sale", "--store", MAX_CENTRO_CNPJ, "--amount", "5,00"], server.port, queue_path=queue,
                             env={**QUICK, "ONSELL_CPF": DEMO_SELLER_CPF, "ONSELL_PIN": "2580"})
        assert refused.returncode == 1, refused.stderr
        assert "1 venda pendente deste CPF fica guardada neste caixa" in refused.stderr
        assert queued_sale_ids(queue) == [sale_id]
        assert not till.has_verifier(DEMO_SELLER_CPF)

        sent = run_client(["sale", "--store", MAX_CENTRO_CNPJ, "--amount", "5,00"], server.port, queue_path=queue,
                          env={**QUICK, "ONSELL_CPF": DEMO_SELLER_CPF, "ONSELL_PIN": "3691"})
        assert sent.returncode == 0, sent.stderr
        assert "1 venda pendente enviada" in sent.stderr
        assert sale_id in server_sales(server)["ids"]
    finally:
        till.close()


def test_a_session_begun_offline_whose_pin_changed_meanwhile_ends_when_the_server_is_back_and_its_sales_wait(fresh_server,
                                                                                                          tmp_path):
    server = fresh_server()
    queue = tmp_path / "till" / "queue.db"
    sign_in_and_leave(server, queue)
    reset_pin(server, DEMO_SELLER_CPF, "2580")  # the till does not know
    server.kill9()

    client = InteractiveClient(server.cluster, queue, env=QUICK)
    client.type(DEMO_SELLER_CPF, DEMO_PIN)  # the PIN the till knows
    client.wait_for("Entrada conferida neste caixa, sem servidor")
    client.type("1", "5", "7,00", "s")
    client.wait_for("Vendas pendentes (1)")  # the menu is back (after its look for a server): the server may return
    (sale_id,) = queued_sale_ids(queue)
    server.start()
    client.type("4")
    screen = client.wait_for("O servidor voltou e recusou a sua entrada")
    screen = client.wait_for("CPF:", count=2)
    assert "1 venda pendente deste CPF ainda não foi enviada" in screen
    assert queued_sale_ids(queue) == [sale_id], "the sale is kept, never dropped"
    till = till_of(queue)
    try:
        assert not till.has_verifier(DEMO_SELLER_CPF)
    finally:
        till.close()
    client.type(DEMO_SELLER_CPF, "2580")
    client.wait_for("** 1 venda pendente enviada.")
    client.wait_for("Vendas pendentes (0)")
    client.type("7", "sair")
    assert client.finish() == 0
    assert sale_id in server_sales(server)["ids"]


# -- the verifier itself (no server) ----------------------------------------------------------

SELLER = {"cpf": DEMO_SELLER_CPF, "role": "seller", "name": "João", "store_ids": []}


def test_a_verifier_lasts_offline_signin_hours_and_a_few_wrong_pins_remove_it(tmp_path):
    clock = FakeClock()
    till = Till(tmp_path / "queue.offline.db", 24, clock)
    till.remember(SELLER, DEMO_PIN)
    clock.advance(23 * 3600)
    assert till.check(DEMO_SELLER_CPF, DEMO_PIN)["name"] == "João"
    clock.advance(2 * 3600)
    with pytest.raises(OfflineRefused, match="últimas 24 horas"):
        till.check(DEMO_SELLER_CPF, DEMO_PIN)
    till.close()
    till = Till(tmp_path / "queue.offline.db", 24, clock)  # opened again: the verifier past its hours is gone
    assert not till.has_verifier(DEMO_SELLER_CPF)
    till.remember(SELLER, DEMO_PIN)  # signed in again with a server up
    for _ in range(OFFLINE_MAX_FAILURES - 1):
        with pytest.raises(OfflineRefused, match="PIN incorreto"):
            till.check(DEMO_SELLER_CPF, "9999")
    assert till.check(DEMO_SELLER_CPF, DEMO_PIN)  # a right PIN starts the count again
    for _ in range(OFFLINE_MAX_FAILURES):
        with pytest.raises(OfflineRefused):
            till.check(DEMO_SELLER_CPF, "9999")
    assert not till.has_verifier(DEMO_SELLER_CPF)
    with pytest.raises(OfflineRefused, match="só entra quem já entrou"):
        till.check(DEMO_SELLER_CPF, DEMO_PIN)
    till.close()


def test_no_verifier_for_a_manager_nor_when_offline_signin_is_off(tmp_path):
    till = Till(tmp_path / "queue.offline.db", 24)
    till.remember({**SELLER, "cpf": DEMO_MANAGER_CPF, "role": "manager"}, DEMO_PIN)
    assert not till.has_verifier(DEMO_MANAGER_CPF)
    till.close()
    off = Till(tmp_path / "queue.offline.db", 0)
    off.remember(SELLER, DEMO_PIN)
    assert not off.has_verifier(DEMO_SELLER_CPF)
    with pytest.raises(OfflineRefused, match="OFFLINE_SIGNIN_HOURS=0"):
        off.check(DEMO_SELLER_CPF, DEMO_PIN)
    off.close()


def test_offline_signin_hours_that_cannot_work_ends_the_client_with_status_2(tmp_path):
    ended = run_client(["stores"], free_port(), env={"OFFLINE_SIGNIN_HOURS": "um dia"}, queue_path=tmp_path / "queue.db")
    assert ended.returncode == 2
    assert "OFFLINE_SIGNIN_HOURS" in ended.stderr and len(ended.stderr.strip().splitlines()) == 1
