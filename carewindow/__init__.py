"""carewindow: WhatsApp customer care that keeps to the customer care window rules."""

__version__ = "0.1.0"
