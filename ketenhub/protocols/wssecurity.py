"""Signed SOAP 1.1 messages as the Digikoppeling WUS profile 2W-be-S wants them: WS-Addressing
headers, a wsu:Timestamp and the X.509 certificate as a wsse:BinarySecurityToken, and one XML
Signature (signxml: exclusive c14n, RSA-SHA256, SHA-256 digests) over the Body, the Timestamp,
every WS-Addressing header and a SignatureConfirmation, each referenced by its wsu:Id.

``sign`` makes such a message, ``verify`` checks one and says in plain words what is wrong. The
hub's own service and the CJIB simulator both use them: one side's mistake shows on the other.

What is read from a verified message is found at its fixed place in the envelope and must be
the element the signature references (wsu:Ids are unique in the message): an element slipped in
beside a signed one (signature wrapping) is never what the hub reads.
"""
from __future__ import annotations

import base64
import datetime
import logging
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLSigner, XMLVerifier, methods
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature

# At DEBUG signxml logs what it canonicalises and digests: whole messages, personal data.
logging.getLogger("signxml").setLevel(logging.WARNING)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
NS = {"soap": SOAP, "wsa": WSA, "wsse": WSSE, "wsu": WSU, "wsse11": WSSE11, "ds": DS}
WSU_ID = f"{{{WSU}}}Id"
ADDRESSING = ("Action", "MessageID", "To", "From", "RelatesTo")  # the WS-Addressing headers used here


class SecurityRefused(Exception):
    """The message is not signed as the profile requires; ``reason`` says why in plain words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def oin_of(cert: x509.Certificate) -> str | None:
    """The OIN a PKIoverheid certificate carries: its subject's serialNumber."""
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if len(values) == 1 else None


def oin_in_address(address: str | None) -> str | None:
    """The OIN in an address's query string (``...?OIN=00000099000000030000``)."""
    if not address:
        return None
    values = parse_qs(urlsplit(address.strip()).query).get("OIN", [])
    return values[0] if len(values) == 1 else None


def utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Credentials:
    """A party's signing certificate and RSA key."""
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @classmethod
    def from_pem(cls, cert_pem: str | bytes, key_pem: str | bytes, password: str | None = None) -> "Credentials":
        as_bytes = (lambda v: v.encode() if isinstance(v, str) else v)
        key = serialization.load_pem_private_key(as_bytes(key_pem), password.encode() if password else None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA key (the profile signs with RSA-SHA256)")
        return cls(x509.load_pem_x509_certificate(as_bytes(cert_pem)), key)


def envelope(body: etree._Element, action: str, to: str, sender: str | None = None, relates_to: str | None = None,
             confirmation: str | None = None, created: datetime.datetime | None = None,
             ttl_seconds: int | None = 300) -> etree._Element:
    """An unsigned envelope with the addressing headers, a Timestamp and (for an answer) a
    SignatureConfirmation, each with its wsu:Id, ready for ``sign``."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={k: NS[k] for k in ("soap", "wsa", "wsse", "wsu")})
    header = etree.SubElement(root, f"{{{SOAP}}}Header")

    def header_element(name: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(header, f"{{{WSA}}}{name}", {WSU_ID: f"id-{name.lower()}"})
        el.text = text
        return el

    header_element("Action", action)
    header_element("MessageID", f"urn:uuid:{uuid.uuid4()}")
    header_element("To", to)
    if sender:
        etree.SubElement(header_element("From"), f"{{{WSA}}}Address").text = sender
    if relates_to:
        header_element("RelatesTo", relates_to)
    security = etree.SubElement(header, f"{{{WSSE}}}Security", {f"{{{SOAP}}}mustUnderstand": "1"})
    created = created or datetime.datetime.now(datetime.timezone.utc)
    timestamp = etree.SubElement(security, f"{{{WSU}}}Timestamp", {WSU_ID: "id-timestamp"})
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = utc(created)
    if ttl_seconds is not None:
        etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = utc(created + datetime.timedelta(seconds=ttl_seconds))
    if confirmation is not None:
        etree.SubElement(security, f"{{{WSSE11}}}SignatureConfirmation",
                         {WSU_ID: "id-signatureconfirmation", "Value": confirmation}, nsmap={"wsse11": WSSE11})
    etree.SubElement(root, f"{{{SOAP}}}Body", {WSU_ID: "id-body"}).append(body)
    return root


def signed_parts(root: etree._Element) -> list[etree._Element]:
    """What the profile says a signature covers: the Body, the Timestamp, every WS-Addressing
    header and any SignatureConfirmation."""
    parts = root.xpath("soap:Body | soap:Header/wsu:Timestamp | soap:Header/wsse:Security/wsu:Timestamp "
                       "| soap:Header/wsse:Security/wsse11:SignatureConfirmation", namespaces=NS)
    return parts + [el for el in root.xpath("soap:Header/*", namespaces=NS) if etree.QName(el).namespace == WSA]


def sign(root: etree._Element, credentials: Credentials, leave_out: tuple[str, ...] = (),
         algorithms: tuple = (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256, EXC_C14N)) -> bytes:
    """Signs ``root`` (from ``envelope``) with ``credentials``: the certificate goes in a
    BinarySecurityToken, the Signature after it. ``leave_out`` (wsu:Ids not to reference) and
    ``algorithms`` (signature, digest, canonicalisation) are for tests of what the hub refuses."""
    security = root.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security")
    token = etree.SubElement(security, f"{{{WSSE}}}BinarySecurityToken",
                             {WSU_ID: "id-cert", "EncodingType": BASE64, "ValueType": X509V3})
    token.text = base64.b64encode(credentials.cert.public_bytes(serialization.Encoding.DER)).decode()
    key_info = etree.Element(f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
    etree.SubElement(etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference", nsmap={"wsse": WSSE}),
                     f"{{{WSSE}}}Reference", URI="#id-cert", ValueType=X509V3)
    ids = [el.get(WSU_ID) for el in signed_parts(root) if el.get(WSU_ID) not in leave_out]
    signature_algorithm, digest_algorithm, c14n = algorithms
    signer = XMLSigner(method=methods.detached, signature_algorithm=signature_algorithm,
                       digest_algorithm=digest_algorithm, c14n_algorithm=c14n)
    signature = signer.sign(root, key=credentials.key, reference_uri=[f"#{i}" for i in ids], key_info=key_info)
    security.append(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class Verified:
    """What a verified message says, each part covered by its signature."""
    root: etree._Element
    action: str
    message_id: str
    to: str
    sender: str | None  # wsa:From/wsa:Address
    relates_to: str | None
    created: datetime.datetime
    expires: datetime.datetime | None
    signature_value: str
    confirmation: str | None  # the SignatureConfirmation's Value, in an answer
    signer: x509.Certificate
    body: etree._Element


def _one(root: etree._Element, path: str, what: str, required: bool = True) -> etree._Element | None:
    found = root.xpath(path, namespaces=NS)
    if len(found) > 1:
        raise SecurityRefused(f"the message has more than one {what}")
    if not found and required:
        raise SecurityRefused(f"the message has no {what}")
    return found[0] if found else None


def _moment(text: str | None, what: str) -> datetime.datetime:
    value = (text or "").strip()
    if not value.endswith("Z"):
        raise SecurityRefused(f"the Timestamp's {what} is not in UTC (it must end in Z)")
    try:
        return datetime.datetime.fromisoformat(value[:-1]).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise SecurityRefused(f"the Timestamp's {what} is not a date and time") from None


def _certificate(token: etree._Element) -> x509.Certificate:
    if token.get("ValueType") != X509V3:
        raise SecurityRefused("the BinarySecurityToken is not an X.509 v3 certificate")
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join((token.text or "").split()), validate=True))
    except ValueError:
        raise SecurityRefused("the BinarySecurityToken holds no readable certificate") from None


def _trusted(cert: x509.Certificate, cas: list[x509.Certificate], at: datetime.datetime) -> None:
    """The signing certificate must be issued by one of ``cas`` and valid now."""
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise SecurityRefused("the signing certificate is not valid at this time")
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
            return
        except Exception:  # not this CA's: cryptography raises InvalidSignature, ValueError or TypeError
            continue
    raise SecurityRefused("the signing certificate is not issued by a trusted CA")


def verify(root: etree._Element, cas: list[x509.Certificate], at: datetime.datetime | None = None) -> Verified:
    """Checks the signature of a parsed envelope: one Signature in the Security header, exclusive
    c14n, RSA-SHA256 and SHA-256 digests, made with the certificate in its BinarySecurityToken
    (issued by one of ``cas``), covering every part ``signed_parts`` names. Raises SecurityRefused
    with the reason. The Timestamp's window is the caller's (see ``check_timestamp``)."""
    at = at or datetime.datetime.now(datetime.timezone.utc)
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SecurityRefused("the message is not a SOAP 1.1 Envelope")
    security = _one(root, "soap:Header/wsse:Security", "wsse:Security header")
    signatures = root.xpath("//ds:Signature", namespaces=NS)
    if not signatures:
        raise SecurityRefused("the message is not signed (no ds:Signature in wsse:Security)")
    if len(signatures) > 1 or signatures[0].getparent() is not security:
        raise SecurityRefused("the message must have exactly one ds:Signature, in wsse:Security")
    signature = signatures[0]
    ids = [el.get(WSU_ID) for el in root.iter() if isinstance(el.tag, str) and el.get(WSU_ID) is not None]
    if len(ids) != len(set(ids)):
        raise SecurityRefused("two elements of the message have the same wsu:Id")
    algorithms = [el.get("Algorithm") for el in signature.xpath(
        "ds:SignedInfo/ds:CanonicalizationMethod | ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform",
        namespaces=NS)]
    if not algorithms or any(a != EXC_C14N for a in algorithms):
        raise SecurityRefused("the signature must use exclusive canonicalisation (xml-exc-c14n) only")
    token_uri = signature.xpath("string(ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference/@URI)", namespaces=NS)
    tokens = [t for t in security.iterchildren(f"{{{WSSE}}}BinarySecurityToken") if f"#{t.get(WSU_ID)}" == token_uri]
    if len(tokens) != 1:
        raise SecurityRefused("the signature does not refer to a BinarySecurityToken in the message")
    signer = _certificate(tokens[0])
    _trusted(signer, cas, at)
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
                                    digest_algorithms=frozenset({DigestAlgorithm.SHA256}), expect_references=True)
    try:
        XMLVerifier().verify(root, x509_cert=signer, expect_config=config)
    except (InvalidSignature, InvalidDigest) as e:
        raise SecurityRefused(f"the signature does not verify ({_plain(e)})") from None
    except (InvalidCertificate, InvalidInput) as e:
        raise SecurityRefused(f"the signature cannot be checked ({_plain(e)})") from None
    referenced = {uri[1:] for uri in signature.xpath("ds:SignedInfo/ds:Reference/@URI", namespaces=NS)
                  if uri.startswith("#")}
    for part in signed_parts(root):
        if part.get(WSU_ID) not in referenced:
            raise SecurityRefused(f"the signature does not cover {etree.QName(part).localname}")

    def text(path: str, what: str, required: bool = True) -> str | None:
        el = _one(root, path, what, required)
        return None if el is None else (el.text or "").strip()

    _one(security, "wsu:Timestamp", "wsu:Timestamp in wsse:Security")
    created = _moment(text("soap:Header/wsse:Security/wsu:Timestamp/wsu:Created", "Timestamp Created"), "Created")
    expires_text = text("soap:Header/wsse:Security/wsu:Timestamp/wsu:Expires", "Timestamp Expires", False)
    body = _one(root, "soap:Body", "soap:Body")
    confirmation = _one(security, "wsse11:SignatureConfirmation", "SignatureConfirmation", False)
    return Verified(
        root=root, action=text("soap:Header/wsa:Action", "wsa:Action"),
        message_id=text("soap:Header/wsa:MessageID", "wsa:MessageID"), to=text("soap:Header/wsa:To", "wsa:To"),
        sender=text("soap:Header/wsa:From/wsa:Address", "wsa:From address", False),
        relates_to=text("soap:Header/wsa:RelatesTo", "wsa:RelatesTo", False), created=created,
        expires=_moment(expires_text, "Expires") if expires_text is not None else None,
        signature_value="".join(signature.findtext(f"{{{DS}}}SignatureValue", "").split()),
        confirmation=None if confirmation is None else confirmation.get("Value"), signer=signer, body=body)


def check_timestamp(message: Verified, at: datetime.datetime, window_seconds: int) -> None:
    """Created at most ``window_seconds`` from ``at`` either way, and Expires (if any) not passed."""
    off = (message.created - at).total_seconds()
    if off > window_seconds:
        raise SecurityRefused(f"the Timestamp's Created lies more than {window_seconds // 60} minutes in the future")
    if -off > window_seconds:
        raise SecurityRefused(f"the Timestamp's Created lies more than {window_seconds // 60} minutes in the past")
    if message.expires is not None and message.expires <= at:
        raise SecurityRefused("the Timestamp's Expires has passed")


def _plain(e: Exception) -> str:
    """signxml's message, on one line and short: it names algorithms and references, no content."""
    return " ".join(str(e).split())[:200] or type(e).__name__
