"""The README's exit codes, one test each: 0 done, 1 refused or invalid input, 2 wrong command line, 3 no server."""

import time

from support import DEMO_MANAGER_CPF, DEMO_PIN, free_port, run_client

from client.cli import EXIT_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

MANAGER = {"ONSELL_CPF": DEMO_MANAGER_CPF, "ONSELL_PIN": DEMO_PIN}
SELLER = {"ONSELL_CPF": "12345678909", "ONSELL_PIN": DEMO_PIN}


def test_exit_0_when_done(fresh_server):
    """A listing that works: 0, output on stdout, nothing on stderr."""
    done = run_client(["stores"], fresh_server().port, env=MANAGER)
    assert done.returncode == EXIT_OK and done.stdout and not done.stderr


def test_exit_1_when_the_server_refuses_or_the_input_names_nothing(fresh_server):
    """A seller asking a manager's report, a store that does not exist, a wrong PIN: 1, one line on stderr."""
    server = fresh_server()
    for args, env in ((["report", "best-store"], SELLER), (["report", "store-total", "--store", "nenhuma"], MANAGER),
                      (["sellers"], {**MANAGER, "ONSELL_PIN": "9999"})):
        refused = run_client(args, server.port, env=env)
        assert refused.returncode == EXIT_ERROR and refused.stderr.startswith("onsell: ") and not refused.stdout, args
        assert refused.stderr.count("\n") == 1, refused.stderr


def test_exit_2_for_every_wrong_command_line_before_signing_in():
    """Unknown option, --limit 0 or abc, a day that does not exist, a reversed range, a missing --seller, two subjects:
    2, said before any server is asked (none is listening)."""
    port = free_port()
    for args in (["--nope"], ["report", "best-store", "--limit", "0"], ["report", "best-store", "--limit", "abc"],
                 ["report", "best-store", "--from", "31/02/2026"], ["report", "best-store", "--from", "2026-11-20", "--to", "2026-11-01"],
                 ["report", "seller-total"], ["report", "over-time", "--store", "a", "--seller", "b"],
                 ["report", "best-store", "--limit", "101"], ["sales", "--limit", "1001"]):
        wrong = run_client(args, port, env=MANAGER)
        assert wrong.returncode == EXIT_USAGE, (args, wrong.stderr)
        assert "servidor" not in wrong.stderr, (args, wrong.stderr)  # the command line is said wrong first


def test_exit_3_when_no_server_answers():
    """Nothing listening on any node: 3 with one Portuguese line, at once (not after CLIENT_FAILOVER_TIMEOUT_MS, 5 s)."""
    ports = [free_port(), free_port()]
    started = time.monotonic()
    gone = run_client(["stores"], ports[0], env={**MANAGER, "CLUSTER": f"1=127.0.0.1:{ports[0]},2=127.0.0.1:{ports[1]}"})
    assert gone.returncode == EXIT_UNREACHABLE and "não foi possível falar com o servidor" in gone.stderr
    assert time.monotonic() - started < 4.0  # the process starts in well under a second; the timeout would be 5 s


def test_an_option_a_report_does_not_use_is_a_wrong_command_line():
    """best-seller --seller, seller-total --store, store-total --limit, network-total --period: 2, naming the option."""
    port = free_port()
    for args, option in ((["report", "best-seller", "--seller", "12345678909"], "--seller"),
                         (["report", "seller-total", "--seller", "x", "--store", "y"], "--store"),
                         (["report", "store-total", "--store", "x", "--limit", "3"], "--limit"),
                         (["report", "network-total", "--network", "x", "--period", "week"], "--period")):
        wrong = run_client(args, port, env=MANAGER)
        assert wrong.returncode == EXIT_USAGE and f"não aceita {option}" in wrong.stderr, (args, wrong.stderr)


def test_a_malformed_onsell_cpf_or_pin_is_a_setting_that_cannot_work():
    """ONSELL_CPF with wrong check digits, or a 3-digit ONSELL_PIN: 2, naming the key and why."""
    port = free_port()
    bad_cpf = run_client(["sellers"], port, env={**MANAGER, "ONSELL_CPF": "12345678900"})
    assert bad_cpf.returncode == EXIT_USAGE and "ONSELL_CPF: CPF inválido: os dígitos verificadores" in bad_cpf.stderr
    bad_pin = run_client(["sellers"], port, env={**MANAGER, "ONSELL_PIN": "123"})
    assert bad_pin.returncode == EXIT_USAGE and "ONSELL_PIN" in bad_pin.stderr
