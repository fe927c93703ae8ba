"""Optional capabilities plug into the context here (sign-in providers, SES, footers...).

Each ``install`` adds services to ``ctx.extras`` and may add web routes
(``ctx.extras["routes"]``) and start-up jobs (``ctx.extras["on_start"]``).
"""

from __future__ import annotations

from bot.context import AppContext


def install(ctx: AppContext) -> None:
    ctx.extras.setdefault("routes", [])
    ctx.extras.setdefault("on_start", [])
