"""The Graph API gateway: Meta's Cloud API wire format in front of carewindow (docs/gateway.md)."""
