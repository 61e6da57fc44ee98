"""Masking of PII for display and export (shown in clear only with ``pii:view``).

>>> mask_phone("13812341234")
'138****1234'
>>> mask_email("zhang.san@example.com")
'z***@example.com'
>>> mask_name("张三丰")
'张**'
>>> mask_id_number("110101199003071234")
'110***********1234'
"""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email and "***"
    local, domain = email.split("@", 1)
    return (local[:1] or "*") + "***@" + domain


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_id_number(id_number: str | None) -> str | None:
    if not id_number:
        return id_number
    if len(id_number) < 8:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


MASKERS = {
    "name": mask_name,
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
}
