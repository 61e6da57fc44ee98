"""Synthetic PII: Chinese names, mobiles, e-mails, 18-digit ID numbers — and their masks.

Everything is built column-wise with Arrow string kernels from integer codes. The
masks follow :mod:`opsloop.access.masking` exactly (a test masks the decrypted values
with those functions and compares), computed here without a Python call per value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.access.crypto import PiiCipher
from opsloop.synth import vocab

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = pa.array(list("10X98765432"))
_SURNAME_P = np.array([s[2] for s in vocab.SURNAMES]) / sum(s[2] for s in vocab.SURNAMES)
_DOMAIN_P = np.array([d[1] for d in vocab.MAIL_DOMAINS]) / sum(d[1] for d in vocab.MAIL_DOMAINS)
_N_PHONES = len(vocab.MOBILE_PREFIXES) * 10**8
_PHONE_MULT = 2_654_435_761  # odd and not a multiple of 5: a bijection mod 42·10^8


def _s(values: list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(list(values), pa.string())


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _padded(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of non-negative ints (e.g. 42 → '0042')."""
    text = pc.cast(pa.array(values.astype(np.int64) + 10**width), pa.string())
    return pc.utf8_slice_codeunits(text, 1)


def make_pii(
    r: np.random.Generator,
    customer_id: np.ndarray,
    female: np.ndarray,
    birth_date: np.ndarray,
    city: np.ndarray,
    seed: int,
) -> dict[str, pa.Array]:
    """Clear PII columns and their masks for one chunk of customers.

    Args:
        r: the chunk's PII random stream.
        customer_id: int64 ids; phones are a bijection of them, so they never collide.
        female: bool per customer (drives given names and the ID's sex digit).
        birth_date: ``datetime64[D]`` per customer (encoded in the ID number).
        city: city index per customer (the ID's area code).
        seed: the bank's seed (shifts the phone bijection per bank).
    """
    n = len(customer_id)
    surname = r.choice(len(vocab.SURNAMES), n, p=_SURNAME_P)
    g1 = r.integers(0, 30, n)
    g2 = r.integers(0, 30, n)
    two = r.random(n) < 0.7  # most modern names have a two-character given name
    given_chr = _s([g[0] for g in vocab.GIVEN_M] + [g[0] for g in vocab.GIVEN_F] + [""])
    given_py = _s([g[1] for g in vocab.GIVEN_M] + [g[1] for g in vocab.GIVEN_F] + [""])
    off = np.where(female, 30, 0)
    i1 = g1 + off
    i2 = np.where(two, g2 + off, 60)
    sur_chr = _s([s[0] for s in vocab.SURNAMES])
    sur_py = _s([s[1] for s in vocab.SURNAMES])
    name = _join(sur_chr.take(surname), given_chr.take(i1), given_chr.take(i2))
    sur_len = np.array([len(s[0]) for s in vocab.SURNAMES])[surname]
    name_len = sur_len + 1 + two
    stars = _s(["*" * k for k in range(8)])
    first = _s([s[0][0] for s in vocab.SURNAMES])
    name_masked = _join(first.take(surname), stars.take(np.maximum(name_len - 1, 1)))

    # Mobile: prefix · 8 digits, a bijection of the customer id (no two customers share).
    k = (customer_id.astype(np.uint64) * np.uint64(_PHONE_MULT) + np.uint64(seed * 7919)) % (
        np.uint64(_N_PHONES)
    )
    k = k.astype(np.int64)
    prefix = np.array(vocab.MOBILE_PREFIXES, dtype=np.int64)[k // 10**8]
    phone_num = prefix * 10**8 + k % 10**8
    phone = pc.cast(pa.array(phone_num), pa.string())
    phone_masked = _join(
        pc.cast(pa.array(prefix), pa.string()),
        _s(["****"]).take(np.zeros(n, np.int64)),
        _padded(phone_num % 10_000, 4),
    )

    # E-mail: pinyin + digits, or a QQ number at qq.com; ~15% have none.
    domain = r.choice(len(vocab.MAIL_DOMAINS), n, p=_DOMAIN_P)
    qq = r.random(n) < 0.35
    digits = pc.cast(pa.array(r.integers(1, 9999, n)), pa.string())
    pinyin_local = _join(sur_py.take(surname), given_py.take(i1), given_py.take(i2), digits)
    qq_local = pc.cast(pa.array(r.integers(10_000_000, 3_999_999_999, n)), pa.string())
    local = pc.if_else(pa.array(qq), qq_local, pinyin_local)
    domains = _s([d[0] for d in vocab.MAIL_DOMAINS])
    dom = pc.if_else(pa.array(qq), domains.take(np.zeros(n, np.int64)), domains.take(domain))
    has_email = pa.array(r.random(n) >= 0.15)
    email = pc.if_else(has_email, _join(local, _s(["@"]).take(np.zeros(n, np.int64)), dom), None)
    email_masked = pc.if_else(
        has_email,
        _join(pc.utf8_slice_codeunits(local, 0, 1), _s(["***@"]).take(np.zeros(n, np.int64)), dom),
        None,
    )

    # ID number: area(6) · birth date(8) · sequence(3, odd = male) · check digit.
    area = np.array([c[3] for c in vocab.CITIES], dtype=np.int64)[city]
    area = np.where(
        r.random(n) < 0.3,
        np.array([c[3] for c in vocab.CITIES])[r.integers(0, len(vocab.CITIES), n)],
        area,
    )
    ymd = birth_date.astype("datetime64[D]")
    y = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    m = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    seq = r.integers(0, 500, n) * 2 + np.where(female, 0, 1)
    body = area * 10**11 + (y * 10_000 + m * 100 + d) * 1_000 + seq
    check = np.zeros(n, dtype=np.int64)
    rest = body.copy()
    for pos in range(16, -1, -1):
        check += (rest % 10) * _ID_WEIGHTS[pos]
        rest //= 10
    body_s = pc.cast(pa.array(body), pa.string())
    id_number = _join(body_s, _ID_CHECK.take(check % 11))
    id_masked = _join(
        pc.utf8_slice_codeunits(body_s, 0, 3),
        _s(["*" * 11]).take(np.zeros(n, np.int64)),
        pc.utf8_slice_codeunits(id_number, 14, 18),
    )
    return {
        "name": name,
        "phone": phone,
        "email": email,
        "id_number": id_number,
        "name_masked": name_masked,
        "phone_masked": phone_masked,
        "email_masked": email_masked,
        "id_number_masked": id_masked,
    }


def encrypt_pii(cipher: PiiCipher, customer_id: np.ndarray, pii: dict[str, pa.Array]) -> pa.Table:
    """The ``customer_pii`` rows: one AES-SIV ciphertext per field."""
    cols: dict[str, pa.Array] = {"customer_id": pa.array(customer_id, pa.int64())}
    for field in ("name", "phone", "email", "id_number"):
        cols[f"{field}_enc"] = pa.array(
            cipher.encrypt_many(field, pii[field].to_pylist()), pa.binary()
        )
    return pa.table(cols)
