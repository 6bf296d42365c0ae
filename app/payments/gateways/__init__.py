"""Payment gateways as plug-ins: every gateway implements app.payments.gateways.base.Gateway and is listed in
registry.py."""
