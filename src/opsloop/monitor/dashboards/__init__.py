"""Dashboards data and alerts: saved reports, scheduled refresh, metric alerts to staff,
journey health."""
