"""A real SMTP server for the mail tests, in its own process: aiosmtpd with STARTTLS and AUTH.

``SmtpServer`` starts it on a free loopback port with a self-signed certificate (made
here with ``cryptography``, for ``127.0.0.1`` and ``localhost``), requires STARTTLS and
AUTH (``USERNAME`` / ``PASSWORD``), and keeps every message it accepts as a file in its
folder, which the tests read back. ``answer_next`` scripts the replies to the next
messages (``"451 4.3.0 Try again later"``, ``"550 5.1.1 No such user"``): the server
answers them so and keeps nothing.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import json
import multiprocessing
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME, PASSWORD = "bgcheck", "mail-password-for-tests"
READY_SECONDS = 15.0


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 and localhost; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bgcheck test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _serve(folder: str, port: int) -> None:
    """The child process: run the server until killed."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    root = Path(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(root / "cert.pem", root / "key.pem")

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            script = root / "script.json"
            answers = json.loads(script.read_text()) if script.exists() else []
            if answers:
                script.write_text(json.dumps(answers[1:]))
                return str(answers[0])
            inbox = root / "inbox"
            count = len(list(inbox.iterdir()))
            (inbox / f"{count:04d}.eml").write_bytes(envelope.original_content)
            return "250 2.0.0 OK"

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    (root / "ready").write_text("ready")
    while True:
        time.sleep(3600)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "inbox").mkdir(parents=True)
        self.cert, _ = self_signed(folder)
        self.port = _free_port()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(str(folder), self.port), daemon=True
        )

    def __enter__(self) -> SmtpServer:
        self.process.start()
        deadline = time.monotonic() + READY_SECONDS
        while not (self.folder / "ready").exists():
            if time.monotonic() > deadline or not self.process.is_alive():
                raise RuntimeError("the test SMTP server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.join(5)

    @property
    def url(self) -> str:
        return f"smtp://{USERNAME}:{PASSWORD}@127.0.0.1:{self.port}"

    def answer_next(self, *answers: str) -> None:
        (self.folder / "script.json").write_text(json.dumps(list(answers)))

    def messages(self) -> list[EmailMessage]:
        """Every message accepted so far, parsed, in order."""
        found = []
        for path in sorted((self.folder / "inbox").iterdir()):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found
