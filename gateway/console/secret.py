"""The console's session secret: made once, owner-only, in the key directory.

Session cookies are signed with it (HMAC through itsdangerous, Flask's own session). It is
made on first use and then read by every worker; every node needs the same key directory
contents (as for the token keys), so a session signed on one node holds on the others.
Replacing the file ends every session.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from gateway.keystore import KeystoreError, read_private, write_private

SECRET_FILE = "console-session.key"  # noqa: S105 - a file name
SECRET_BYTES = 32


def session_secret(keys_dir: Path) -> bytes:
    """The secret, made if missing. Two processes starting at once agree: the secret is
    written whole to a private temporary file and linked into place, which fails for the
    loser, who then reads the winner's."""
    path = keys_dir / SECRET_FILE
    if not path.exists():
        temporary = keys_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        write_private(temporary, secrets.token_bytes(SECRET_BYTES))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    secret = read_private(path)
    if len(secret) < SECRET_BYTES:
        raise KeystoreError(f"{path} is too short to be a session secret")
    return secret
