"""Throw-away TLS material for `make demo` and the tests: a certificate authority and one node certificate
that every node shares, made with the `openssl` command (nothing is added to what the product installs).

The node certificate names every host of the demo's CLUSTER (subjectAltName: IP entries for addresses,
DNS entries for names, plus 127.0.0.1 and localhost), since a client and the nodes check the name of the
host they connect to; it is valid as server and as client (a node presents it to its peers too).
"""

import ipaddress
import secrets
import shutil
import subprocess
from pathlib import Path

from wire.tls import TlsFiles

VALID_DAYS = 30
CURVE = "prime256v1"
OPENSSL_TIMEOUT_S = 30.0


class CannotMakeCertificates(Exception):
    """No `openssl` command here, or it failed; str() says which."""


def subject_alt_names(hosts) -> str:
    """`IP:…` for addresses and `DNS:…` for names, loopback always included, each once."""
    entries = []
    for host in [*hosts, "127.0.0.1", "localhost"]:
        try:
            entries.append(f"IP:{ipaddress.ip_address(host.strip('[]'))}")
        except ValueError:
            entries.append(f"DNS:{host}")
    return ",".join(dict.fromkeys(entries))


def make_certificates(folder: Path, hosts, name: str = "onsell demo") -> TlsFiles:
    """A new CA (folder/ca.pem, its key ca-key.pem) and a node certificate signed by it (node.pem, node-key.pem)
    naming `hosts`; keys are 0600 and the folder 0700. CannotMakeCertificates when openssl is missing or fails."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CannotMakeCertificates("the openssl command is not installed")
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, ca_key, cert, key = (folder / n for n in ("ca.pem", "ca-key.pem", "node.pem", "node-key.pem"))
    request, extensions = folder / "node.csr", folder / "node.ext"
    extensions.write_text(f"subjectAltName={subject_alt_names(hosts)}\n"
                          "basicConstraints=critical,CA:FALSE\n"
                          "keyUsage=critical,digitalSignature\n"
                          "extendedKeyUsage=serverAuth,clientAuth\n"
                          "subjectKeyIdentifier=hash\n"
                          "authorityKeyIdentifier=keyid,issuer\n")
    new_key = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{CURVE}", "-nodes"]
    _run([openssl, "req", "-x509", *new_key, "-keyout", str(ca_key), "-out", str(ca), "-days", str(VALID_DAYS),
          "-subj", f"/CN={name} CA", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _run([openssl, "req", "-new", *new_key, "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name} node"])
    _run([openssl, "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-out", str(cert),
          "-days", str(VALID_DAYS), "-set_serial", f"0x{secrets.token_hex(16)}", "-extfile", str(extensions)])
    request.unlink()
    extensions.unlink()
    for private in (ca_key, key):
        private.chmod(0o600)
    return TlsFiles(cert, key, ca)


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        raise CannotMakeCertificates(f"openssl failed: {exc.stderr.decode(errors='replace').strip()[-300:]}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CannotMakeCertificates(f"openssl could not run: {exc}") from None
