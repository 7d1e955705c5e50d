"""Sending the alerts of `marts.alerts` through pluggable notifiers."""
