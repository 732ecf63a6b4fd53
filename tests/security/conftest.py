"""The real receivers (SMTP, HTTP, TLS certificate) for the security tests."""

from tests.receivers import http_receiver, smtp_server, tls_certificate

__all__ = ["http_receiver", "smtp_server", "tls_certificate"]
