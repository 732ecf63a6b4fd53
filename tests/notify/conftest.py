"""The real receivers (SMTP, HTTP, TLS certificate) as fixtures for the channel tests."""

from tests.receivers import http_receiver, smtp_server, tls_certificate

__all__ = ["http_receiver", "smtp_server", "tls_certificate"]
