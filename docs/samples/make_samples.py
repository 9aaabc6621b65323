"""Writes the sample import files next to this script: lojas.csv (500 stores) and usuarios.csv (5,000 people).

    python docs/samples/make_samples.py

The output is the same on every run (a fixed seed), so the committed files can be checked against it
(tests/test_client_import.py does). CPF and CNPJ check digits come from models.documents; no document
of the demo chain is used, so the samples import into a demo node without clashes.
"""

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from models.documents import cnpj_check_digits, cpf_check_digits, format_cnpj, format_cpf  # noqa: E402
from models.people import is_weak_pin  # noqa: E402

SEED = 2026
STORES = 500
PEOPLE = 5000
WITH_PIN = 25       # hashing a PIN costs ~40 ms on the server: most imported people get theirs from a manager later
MANAGER_EVERY = 50  # one manager for each 50 people
HERE = Path(__file__).resolve().parent

# "Max Atacado" is the demo's MAX ATACADO in another case: its stores join that network; the others are created.
NETWORKS = ["Max Atacado", "SUPERBOM", "Atacadão do Povo", "REDE ECONOMIA", "Mercados Pão e Mel"]
PLACES = ["Centro", "Norte", "Sul", "Leste", "Oeste", "Jardim América", "Vila Nova", "Boa Vista", "São José", "Santa Cruz",
          "Ipiranga", "Liberdade", "Bela Vista", "Aeroporto", "Rodoviária", "Parque das Flores", "Industrial", "Lagoa Seca"]
FIRST_NAMES = ["Ana", "João", "Maria", "José", "Francisca", "Antônio", "Adriana", "Carlos", "Juliana", "Paulo", "Márcia",
               "Lucas", "Fernanda", "Pedro", "Patrícia", "Rafael", "Aline", "Marcos", "Camila", "Luís", "Bruna", "Tiago",
               "Letícia", "Gabriel", "Sônia", "Rodrigo", "Vanessa", "Felipe", "Cláudia", "Mateus", "Débora", "Vinícius"]
SURNAMES = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes", "Costa",
            "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias",
            "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos"]
DEMO_CNPJ_PREFIX = "112"  # the demo's CNPJs are 11222333 + n * 1111 (db/demo.py): none starts like the samples'


def _cnpj(rng: random.Random, taken: set[str]) -> str:
    while True:
        base = f"{rng.randint(20_000_000, 99_999_999)}{rng.randint(1, 20):04d}"
        digits = base + cnpj_check_digits(base)
        if digits not in taken and not digits.startswith(DEMO_CNPJ_PREFIX):
            taken.add(digits)
            return digits


def _cpf(rng: random.Random, taken: set[str]) -> str:
    while True:
        base = f"{rng.randint(100_000_000, 999_999_999)}"
        digits = base + cpf_check_digits(base)
        if digits not in taken and digits != digits[0] * 11:
            taken.add(digits)
            return digits


def _pin(rng: random.Random) -> str:
    while True:
        pin = f"{rng.randint(0, 999_999):06d}"
        if not is_weak_pin(pin):
            return pin


def stores_csv(seed: int = SEED, count: int = STORES) -> str:
    rng = random.Random(seed)
    taken: set[str] = set()
    lines = ["rede;loja;cnpj"]
    for number in range(1, count + 1):
        network = NETWORKS[number % len(NETWORKS)]
        name = f"{network.split()[0].title()} {rng.choice(PLACES)} {number}"
        lines.append(f"{network};{name};{format_cnpj(_cnpj(rng, taken))}")
    return "\r\n".join(lines) + "\r\n"


def users_csv(seed: int = SEED, count: int = PEOPLE) -> str:
    rng = random.Random(seed + 1)
    taken = {"12345678909", "23456789092", "34567890175", "45678901249", "56789012303"}  # the demo's people
    pins = set(rng.sample(range(count), WITH_PIN))
    lines = ["cpf;nome;ano_nascimento;perfil;pin"]
    for number in range(count):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
        role = "gerente" if number % MANAGER_EVERY == MANAGER_EVERY - 1 else "vendedor"
        cpf = _cpf(rng, taken)
        shown = format_cpf(cpf) if number % 2 else cpf  # masked and bare, as people type them
        lines.append(f"{shown};{name};{rng.randint(1950, 2006)};{role};{_pin(rng) if number in pins else ''}")
    return "\r\n".join(lines) + "\r\n"


def main() -> None:
    for name, text in (("lojas.csv", stores_csv()), ("usuarios.csv", users_csv())):
        (HERE / name).write_bytes(text.encode("utf-8"))
        print(f"{HERE / name}: {text.count(chr(10)) - 1} linhas")


if __name__ == "__main__":
    main()
