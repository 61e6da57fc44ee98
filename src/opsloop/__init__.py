"""opsloop: the closed-loop customer operations platform of a retail bank (数智化运营平台)."""

__version__ = "0.1.0"
