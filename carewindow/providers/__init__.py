"""Ways to reach WhatsApp: ``base`` (protocol, errors), ``meta`` (Cloud API), ``fake``, ``sandbox``."""
