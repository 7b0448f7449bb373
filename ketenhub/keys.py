"""The secret key of the Ketenreferentie (a keyed hash of case and victim, see
xml.xslt.ketenreferentie). It lives outside the code and the hub's database: in the Airflow
Variable ``ketenhub_ketenreferentie_key``, so in Airflow's metadata database (encrypted with its
Fernet key), or wherever the secrets backend keeps Variables (``AIRFLOW_VAR_...`` included).
A process reads it once (Hub); worker processes get it with the settings they are handed."""
from __future__ import annotations

import os
import secrets
import sys

VARIABLE = "ketenhub_ketenreferentie_key"
ENVIRONMENT = f"AIRFLOW_VAR_{VARIABLE.upper()}"  # Airflow's own convention for a Variable in the environment
MIN_LENGTH = 32  # characters; ``init`` makes 43 (32 random bytes, URL-safe base64)


class MissingKey(Exception):
    """The hub may not make Ketenreferenties: without the key they could be reversed."""


def _in_task() -> bool:
    return getattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS", None) is not None


def read() -> str | None:
    """The key, or None where no Variable backend has one: AIRFLOW_VAR_KETENHUB_KETENREFERENTIE_KEY
    first; then in a task Airflow's API server, elsewhere the secrets backend and, where
    AIRFLOW_HOME says which Airflow this is (the command line beside the demo), its metadata
    database. None too where the key stored there cannot be decrypted here: ``check`` says why."""
    global _unreadable
    _unreadable = None
    value = os.environ.get(ENVIRONMENT)  # read without importing Airflow: a process that needs
    if value:  # nothing else of it starts faster
        return value
    if not _in_task() and _no_variables_table():
        return None
    from airflow.sdk import Variable

    value = Variable.get(VARIABLE, default=None)
    if value is None and not _in_task() and os.environ.get("AIRFLOW_HOME"):
        try:
            from airflow.models import Variable as Stored
            value = Stored.get(VARIABLE, default_var=None)
        except Exception:  # no metadata database (yet): as if the Variable were absent
            value = None
    if not _in_task():  # what a secrets backend gave stands; the metadata database's, only if readable
        stored, _unreadable = _stored_unreadable()
        if _unreadable and value in (None, stored):
            return None
        _unreadable = None
    return value or None


_unreadable: str | None = None  # why the key stored in Airflow's metadata database could not be read


def _stored_unreadable() -> tuple[str | None, str | None]:
    """The key as stored in Airflow's metadata database, and why this Airflow cannot decrypt it
    (None: it can, or none is stored there). Airflow itself gives None for it then (and ``init``
    would make a new key, changing every reference) or, without a Fernet key, the encrypted text."""
    from airflow.models import Variable as Stored
    from airflow.models.crypto import get_fernet
    from airflow.utils.session import create_session
    from cryptography.fernet import InvalidToken

    try:
        with create_session() as session:
            row = session.query(Stored.is_encrypted, Stored._val).filter(Stored.key == VARIABLE).one_or_none()
    except Exception:  # no metadata database: as if the Variable were absent
        return None, None
    if row is None or not row.is_encrypted:
        return None, None
    fernet = get_fernet()
    if not fernet.is_encrypted:
        return row._val, "this Airflow has no Fernet key to read it with"
    try:
        fernet.decrypt(row._val.encode())
        return row._val, None
    except InvalidToken:
        return row._val, "this Airflow's Fernet key does not decrypt it"


def _no_variables_table() -> bool:
    """An Airflow whose metadata database was never migrated (a new AIRFLOW_HOME): asking it for
    the Variable would log a failed query, with its traceback, at every command."""
    from airflow import settings
    from sqlalchemy import inspect

    try:
        return settings.engine is not None and not inspect(settings.engine).has_table("variable")
    except Exception:  # not reachable: the lookup itself says why
        return False


def check(value: str | None) -> bytes:
    if not value and _unreadable:
        raise MissingKey(f"the Airflow Variable {VARIABLE} is stored encrypted, but {_unreadable}. Set the Fernet key "
                         "it was stored with ([core] fernet_key, AIRFLOW__CORE__FERNET_KEY); do not make a new key: "
                         "every Ketenreferentie would change (docs/security-privacy.md)")
    if not value:
        raise MissingKey(f"no key for the Ketenreferentie: the Airflow Variable {VARIABLE} is not set. Create "
                         "it with `ketenhub keys init` (./hub start does this at its first start), or set it in "
                         "the secrets backend; the hub does not make references without it")
    if len(value) < MIN_LENGTH:
        raise MissingKey(f"the Airflow Variable {VARIABLE} is too short ({len(value)} characters, at least "
                         f"{MIN_LENGTH}): a short key can be guessed")
    return value.encode()


def init() -> bool:
    """Create the key in Airflow's metadata database unless one exists. True when created."""
    if os.environ.get(ENVIRONMENT):
        return False
    from sqlalchemy.exc import SQLAlchemyError

    not_there = (f"the key cannot be stored as the Airflow Variable {VARIABLE}: the metadata database of "
                 f"AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME', '~/airflow')} {{}}. Run `airflow db migrate` with "
                 "that AIRFLOW_HOME first (./hub start does both)")
    if _no_variables_table():
        raise MissingKey(not_there.format("has no table for Variables"))
    if read() is not None:
        return False
    if _unreadable:  # stored, and this Airflow cannot read it: never replaced
        check(None)
    from airflow.models import Variable as Stored
    from airflow.models.crypto import get_fernet

    if not get_fernet().is_encrypted:  # Airflow would store the Variable as it is, readable by whoever reads its database
        raise MissingKey(f"the key cannot be stored as the Airflow Variable {VARIABLE}: this Airflow has no Fernet "
                         "key to encrypt it with. Set [core] fernet_key (AIRFLOW__CORE__FERNET_KEY; ./hub start "
                         "makes one in var/airflow/secrets.env), or keep the key in the secrets backend")

    try:
        Stored.set(VARIABLE, secrets.token_urlsafe(32),
                   description="Ketenhub: secret of the Ketenreferentie (HMAC-SHA256). Never change it "
                               "without reading docs/security-privacy.md: every reference would change.")
    except SQLAlchemyError as e:  # its message would quote the statement's parameters: the key itself
        raise MissingKey(not_there.format(f"refused it ({type(e).__name__})")) from None
    return True
