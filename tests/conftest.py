import pytest
import support
from hypothesis import settings
from inprocess import NOON_IN_SAO_PAULO, make_node
from replicas import Replica
from support import DEMO_MANAGER_CPF, DEMO_PIN, DEMO_SELLER_CPF, Cluster, ServerProcess

from client.api import Api
from client.connection import Connection
from runtime.clock import FakeClock

# No time limit per generated example: on a loaded 2-core machine hypothesis' default 200 ms deadline fails
# correct code (timing goals belong in bench/, not in tests).
settings.register_profile("onsell", deadline=None)
settings.load_profile("onsell")


@pytest.fixture(scope="session", autouse=True)
def client_queues_under_pytest_tmp(tmp_path_factory):
    """run_client's queue files go under pytest's temporary directory, never into the system's /tmp."""
    support.CLIENT_QUEUE_ROOT = tmp_path_factory.mktemp("client-queues")
    yield
    support.CLIENT_QUEUE_ROOT = None


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at noon on 26/11/2026 in São Paulo, for nodes built in-process (tests/inprocess.py)."""
    return FakeClock(NOON_IN_SAO_PAULO)


@pytest.fixture
def node(tmp_path, clock):
    """A demo node built in-process on `clock` (no sockets)."""
    built = make_node(tmp_path, clock)
    yield built
    built.stop()


@pytest.fixture
def replicas(tmp_path):
    """make(node_id, epoch=1) -> a Replica in the test's directory; all closed at the end."""
    made = []

    def make(node_id: int, epoch: int = 1) -> Replica:
        replica = Replica(tmp_path / f"node-{node_id}-{len(made)}.db", node_id, epoch)
        made.append(replica)
        return replica
    yield make
    for replica in made:
        replica.close()



@pytest.fixture
def clusters(tmp_path):
    """make(kind=Cluster, **kwargs) -> real node processes in the test's directory (not started); all stopped at the end."""
    made = []

    def make(kind=Cluster, **kwargs):
        c = kind(tmp_path / f"c{len(made)}", **kwargs)
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """One demo node shared by a module's read-mostly tests."""
    server = ServerProcess(tmp_path_factory.mktemp("node")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A demo node of the test's own, for tests that change or break things."""
    servers = []

    def start(**kwargs) -> ServerProcess:
        server = ServerProcess(tmp_path / f"node{len(servers)}", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def api_for(server: ServerProcess) -> Api:
    return Api(Connection({1: ("127.0.0.1", server.port)}))


def signed_in(server: ServerProcess, cpf: str):
    api = api_for(server)
    api.login(cpf, DEMO_PIN)
    yield api
    api.connection.close()


@pytest.fixture
def seller_api(demo_server):
    yield from signed_in(demo_server, DEMO_SELLER_CPF)


@pytest.fixture
def manager_api(demo_server):
    yield from signed_in(demo_server, DEMO_MANAGER_CPF)
