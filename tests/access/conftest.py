from access.fixtures import app, client, settings, store_url

__all__ = ["app", "client", "settings", "store_url"]
