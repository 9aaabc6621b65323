"""The sign-in throttle on a real node (trust issue, finding 2): concurrent guesses cannot slip past it, it counts per
CPF and address (a seller is not locked out by someone elsewhere), and an address spraying a PIN over many CPFs is
stopped."""

import socket
import threading

from support import DEMO_PIN, DEMO_SELLER_CPF, RawClient

from models.documents import cpf_check_digits

GUESSES = 61


def client_from(port: int, source: str) -> RawClient:
    """A RawClient whose connection comes from `source` (any 127.x address reaches the loopback)."""
    client = RawClient.__new__(RawClient)
    client.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    client.buffer = b""
    return client


def login_code(client: RawClient, cpf: str, pin: str) -> int | str:
    answer = client.call("auth.login", {"cpf": cpf, "pin": pin})
    return answer["error"]["code"] if "error" in answer else "ok"


def test_concurrent_wrong_guesses_get_at_most_the_allowed_pin_checks(fresh_server):
    """61 simultaneous guesses on one CPF from one address: at most LOGIN_MAX_FAILURES (5) are checked (1003), the
    others are throttled (1010) without a PIN check. Before, 55 were checked and one guess of 61 could succeed."""
    server = fresh_server()
    clients = [server.raw() for _ in range(GUESSES)]
    codes, barrier = [], threading.Barrier(GUESSES)

    def guess(client: RawClient, n: int) -> None:
        barrier.wait(timeout=30)
        codes.append(login_code(client, DEMO_SELLER_CPF, f"{n + 2000:04d}"))
    threads = [threading.Thread(target=guess, args=(c, n)) for n, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for client in clients:
        client.close()
    assert len(codes) == GUESSES
    assert codes.count(1003) <= 5 and codes.count(1010) >= GUESSES - 5, sorted(map(str, codes))


def test_a_seller_locked_from_one_address_still_signs_in_from_their_till(fresh_server):
    server = fresh_server()
    attacker, till = client_from(server.port, "127.0.0.1"), client_from(server.port, "127.0.0.2")
    codes = [login_code(attacker, DEMO_SELLER_CPF, "0000") for _ in range(6)]
    assert codes == [1003] * 5 + [1010]
    assert login_code(till, DEMO_SELLER_CPF, DEMO_PIN) == "ok"
    attacker.close()
    till.close()


def test_an_address_spraying_a_pin_over_many_cpfs_is_throttled(fresh_server):
    """PIN 1234 tried on 25 CPFs from one address: after LOGIN_MAX_FAILURES_PER_SOURCE (20) failures, 1010."""
    server = fresh_server()
    sprayer = client_from(server.port, "127.0.0.3")
    cpfs = [nine + cpf_check_digits(nine) for nine in (f"{400_000_000 + n:09d}" for n in range(25))]
    codes = [login_code(sprayer, cpf, "1357") for cpf in cpfs]
    assert codes[:20] == [1004] * 20 and set(codes[20:]) == {1010}, codes
    other = client_from(server.port, "127.0.0.4")
    assert login_code(other, DEMO_SELLER_CPF, DEMO_PIN) == "ok"
    for client in (sprayer, other):
        client.close()
    assert "Traceback" not in server.log()
